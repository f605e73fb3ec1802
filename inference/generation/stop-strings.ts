/**
 * Streaming text helpers for generation: turning token ids into text one token at a time without splitting a
 * UTF-8 character, and holding back text that may turn into a stop string.
 */

/**
 * Incremental stop-string matcher. Text is emitted as soon as it cannot be the start of any stop string; the
 * longest tail that is a prefix of some stop string is held back until the next delta decides it. On a match the
 * text before the (earliest) stop is emitted and the matcher reports `stopped`; later pushes emit nothing.
 */
export class StopStringMatcher {
  private readonly stops: readonly string[];
  private readonly longestStop: number;
  private held = '';
  private isStopped = false;

  /** @param stops stop strings; empty strings are ignored. */
  constructor(stops: readonly string[]) {
    this.stops = stops.filter((stop) => stop.length > 0);
    this.longestStop = this.stops.reduce((longest, stop) => Math.max(longest, stop.length), 0);
  }

  /** Whether a stop string has been seen. */
  get stopped(): boolean {
    return this.isStopped;
  }

  /** Feed the next piece of generated text; returns the text now safe to show and whether a stop was reached. */
  push(textDelta: string): { emit: string; stopped: boolean } {
    if (this.isStopped) return { emit: '', stopped: true };
    const text = this.held + textDelta;

    // the earliest complete stop string (the held text never contained one, so only the new tail can complete it)
    let matchAt = -1;
    for (const stop of this.stops) {
      const index = text.indexOf(stop);
      if (index !== -1 && (matchAt === -1 || index < matchAt)) matchAt = index;
    }
    if (matchAt !== -1) {
      this.isStopped = true;
      this.held = '';
      return { emit: text.slice(0, matchAt), stopped: true };
    }

    // hold back the longest suffix that some stop string starts with
    const holdLength = this.longestHeldSuffix(text);
    this.held = text.slice(text.length - holdLength);
    return { emit: text.slice(0, text.length - holdLength), stopped: false };
  }

  /** At the end of generation: the held-back text (it never became a stop string); '' after a stop. */
  flush(): string {
    const rest = this.isStopped ? '' : this.held;
    this.held = '';
    return rest;
  }

  private longestHeldSuffix(text: string): number {
    for (let length = Math.min(text.length, this.longestStop - 1); length > 0; length--) {
      const suffix = text.slice(text.length - length);
      if (this.stops.some((stop) => stop.startsWith(suffix))) return length;
    }
    return 0;
  }
}

/** How many preceding ids are decoded with each new one, for tokenizers whose decoding depends on the left side. */
const CONTEXT_IDS = 5;

/**
 * Token ids to text deltas, one id at a time, with the prefix-offset technique of Hugging Face's text streamers:
 * decode a short window of recent ids with and without the new ones and emit the difference, so a byte-level BPE
 * token that ends in the middle of a multi-byte character is held (the decoded tail ends in U+FFFD) until the
 * character completes, and SentencePiece's leading-space handling sees its left context.
 */
export class IncrementalDecoder {
  private readonly decode: (ids: number[]) => string;
  /** Ids from the prefix offset on: window[0, readIndex) is already emitted context, the rest is pending. */
  private window: number[];
  private readIndex: number;
  /** decode(window[0, readIndex)), cached until the prefix moves. */
  private prefixText: string;

  /**
   * @param decode the tokenizer's decode of a list of ids.
   * @param contextIds ids already shown (e.g. the prompt); the last few give the first new tokens their left context.
   */
  constructor(decode: (ids: number[]) => string, contextIds: readonly number[] = []) {
    this.decode = decode;
    this.window = contextIds.slice(Math.max(0, contextIds.length - CONTEXT_IDS));
    this.readIndex = this.window.length;
    this.prefixText = this.window.length === 0 ? '' : decode(this.window);
  }

  /** Add the next id; returns the newly completed text ('' while a character is still incomplete). */
  push(id: number): string {
    this.window.push(id);
    const text = this.decode(this.window);
    if (text.length <= this.prefixText.length || text.endsWith('\uFFFD')) return '';
    const delta = text.slice(this.prefixText.length);
    // the new prefix is what was pending: the ids after the old read offset
    this.window = this.window.slice(this.readIndex);
    this.readIndex = this.window.length;
    this.prefixText = this.decode(this.window);
    return delta;
  }

  /** At the end of generation: text still held back (an incomplete character decodes to U+FFFD). */
  flush(): string {
    const text = this.decode(this.window);
    const delta = text.length > this.prefixText.length ? text.slice(this.prefixText.length) : '';
    this.window = [];
    this.readIndex = 0;
    this.prefixText = '';
    return delta;
  }
}
