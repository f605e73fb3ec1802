import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { loadCheckpoint } from '../../inference/checkpoint/load-checkpoint.js';
import type { LoadedCheckpoint } from '../../inference/checkpoint/types.js';
import type { GenerateRequest, GenerateResult } from '../../inference/engine/engine-contract.js';
import { OnnxEngine } from '../../inference/engine/onnx-engine.js';
import { referenceForward } from '../../inference/reference/reference-forward.js';
import { AbortedError, InvalidOptionError, PromptOverflowError, TomeError } from '../../src/errors.js';
import { useTinyCheckpoint } from '../helpers/tiny-checkpoint.js';

/**
 * OnnxEngine in this thread on the tiny fixture checkpoint, against the plain TypeScript reference forward pass
 * (goldens computed by the reference, never recorded from the engine itself), and the LocalEngine contract:
 * limits, stop strings, seeds, prefix reuse of the KV memory, abort, embeddings and option errors.
 */
const TOLERANCE = 1e-4;
const PROMPT = 'The river runs';
const GOLDEN_TOKENS = 12;

const checkpoint = useTinyCheckpoint({ seed: 0 });
let engine: OnnxEngine;
/** The same checkpoint loaded again for the reference forward pass (its own weight store and tokenizer). */
let reference: LoadedCheckpoint;
const engines: OnnxEngine[] = [];

async function openEngine(options: Parameters<typeof OnnxEngine.open>[1] = {}): Promise<OnnxEngine> {
  const opened = await OnnxEngine.open(checkpoint.directory, { threads: 1, ...options });
  engines.push(opened);
  return opened;
}

beforeAll(async () => {
  engine = await openEngine();
  reference = await loadCheckpoint(checkpoint.directory);
});

afterAll(async () => {
  await Promise.all(engines.map((opened) => opened.dispose()));
  await reference?.weights.close();
});

/** Reference logits [T, vocab] of a whole sequence. */
function referenceLogits(ids: readonly number[]): Float32Array {
  return referenceForward(reference.config, reference.weights, ids).logits;
}

/** log-softmax of one logits row, in float64 (written here, independent of the engine's generation helpers). */
function logSoftmaxRow(logits: Float32Array, row: number, vocab: number): number[] {
  const values = Array.from(logits.subarray(row * vocab, (row + 1) * vocab));
  const max = Math.max(...values);
  const logSum = Math.log(values.reduce((sum, value) => sum + Math.exp(value - max), 0)) + max;
  return values.map((value) => value - logSum);
}

/**
 * Greedy decoding driven by the reference forward pass over the growing sequence (no cache): the expected token
 * ids, stopping before an EOS id. Only ids the tokenizer can produce are candidates, as in the engine. Also
 * returns the smallest margin between the best and second-best logit, so a near-tie (where float noise could
 * legitimately flip the choice) is caught as a bad golden rather than reported as an engine bug.
 */
function referenceGreedy(promptIds: readonly number[], count: number): { tokenIds: number[]; endedWithEos: boolean; smallestMargin: number } {
  const { vocabSize } = reference.config;
  const sampleable = Math.min(reference.tokenizer.vocabularySize, vocabSize);
  const eos = new Set(reference.tokenizer.eosTokenIds);
  const sequence = [...promptIds];
  const tokenIds: number[] = [];
  let smallestMargin = Infinity;
  for (let step = 0; step < count; step++) {
    const logits = referenceLogits(sequence);
    const row = logits.subarray((sequence.length - 1) * vocabSize, (sequence.length - 1) * vocabSize + sampleable);
    let best = 0;
    for (let id = 1; id < sampleable; id++) if (row[id]! > row[best]!) best = id;
    let second = -Infinity;
    for (let id = 0; id < sampleable; id++) if (id !== best) second = Math.max(second, row[id]!);
    smallestMargin = Math.min(smallestMargin, row[best]! - second);
    if (eos.has(best)) return { tokenIds, endedWithEos: true, smallestMargin };
    tokenIds.push(best);
    sequence.push(best);
  }
  return { tokenIds, endedWithEos: false, smallestMargin };
}

/** Generate while recording every streamed delta. */
async function generateStreaming(target: OnnxEngine, request: GenerateRequest): Promise<{ result: GenerateResult; deltas: string[] }> {
  const deltas: string[] = [];
  const result = await target.generate({ ...request, onText: (delta) => deltas.push(delta) });
  return { result, deltas };
}

const codeOf = (error: unknown) => (TomeError.is(error) ? error.code : `not a TomeError: ${String(error)}`);

describe('OnnxEngine greedy generation', () => {
  it(`equals a greedy loop over the reference forward pass (first ${GOLDEN_TOKENS} tokens)`, async () => {
    const promptIds = reference.tokenizer.encode(PROMPT);
    const expected = referenceGreedy(promptIds, GOLDEN_TOKENS);
    expect(expected.smallestMargin, 'the golden has a near-tie: pick another prompt or seed').toBeGreaterThan(1e-3);
    const result = await engine.generate({ prompt: PROMPT, maxTokens: GOLDEN_TOKENS });
    expect(result.tokenIds).toEqual(expected.tokenIds);
    expect(result.finishReason).toBe(expected.endedWithEos ? 'eos' : 'length');
    expect(result.promptTokens).toBe(promptIds.length);
    expect(result.completionTokens).toBe(result.tokenIds.length);
  });

  it('is deterministic, and the same from prompt text or from its token ids', async () => {
    const first = await engine.generate({ prompt: PROMPT, maxTokens: 16 });
    const second = await engine.generate({ prompt: PROMPT, maxTokens: 16 });
    const fromIds = await engine.generate({ promptTokenIds: reference.tokenizer.encode(PROMPT), maxTokens: 16 });
    expect(second.tokenIds).toEqual(first.tokenIds);
    expect(second.text).toBe(first.text);
    expect(fromIds.tokenIds).toEqual(first.tokenIds);
    expect(fromIds.text).toBe(first.text);
  });

  it('streams deltas that concatenate to the text, and reports timings', async () => {
    const { result, deltas } = await generateStreaming(engine, { prompt: PROMPT, maxTokens: 24 });
    expect(deltas.length).toBeGreaterThanOrEqual(2);
    expect(deltas.every((delta) => delta.length > 0)).toBe(true);
    expect(deltas.join('')).toBe(result.text);
    expect(result.prefillMs).toBeGreaterThanOrEqual(0);
    expect(result.decodeMs).toBeGreaterThanOrEqual(0);
  });

  it('maxTokens bounds completionTokens (finishReason length); promptTokens is the tokenizer count', async () => {
    for (const maxTokens of [1, 5]) {
      const result = await engine.generate({ prompt: PROMPT, maxTokens });
      expect(result.completionTokens).toBe(maxTokens);
      expect(result.tokenIds).toHaveLength(maxTokens);
      expect(result.finishReason).toBe('length');
      expect(result.promptTokens).toBe(await engine.countTokens(PROMPT));
    }
  });

  it('an empty prompt starts from the BOS token', async () => {
    const bos = reference.tokenizer.bosTokenId!;
    const result = await engine.generate({ prompt: '', maxTokens: 6 });
    expect(result.promptTokens).toBe(1);
    expect(result.tokenIds).toEqual(referenceGreedy([bos], 6).tokenIds);
  });

  it('stops at the context window with finishReason length', async () => {
    const small = await openEngine({ contextWindow: 16 });
    const promptTokens = await small.countTokens(PROMPT);
    const result = await small.generate({ prompt: PROMPT, maxTokens: 100 });
    expect(result.finishReason).toBe('length');
    expect(result.promptTokens + result.completionTokens).toBe(16);
    expect(result.completionTokens).toBe(16 - promptTokens);
  });
});

describe('OnnxEngine concurrent calls', () => {
  it('run one at a time, each with the result it would have had alone', async () => {
    const prompts = [PROMPT, 'A lake sits past the old town', `${PROMPT} past the old town`];
    const alone: GenerateResult[] = [];
    const fresh = await openEngine();
    for (const prompt of prompts) alone.push(await fresh.generate({ prompt, maxTokens: 10 }));
    const scoredAlone = await fresh.score(PROMPT, ' past the old town');
    const [first, second, scored, third] = await Promise.all([
      engine.generate({ prompt: prompts[0]!, maxTokens: 10 }),
      engine.generate({ prompt: prompts[1]!, maxTokens: 10 }),
      engine.score(PROMPT, ' past the old town'),
      engine.generate({ prompt: prompts[2]!, maxTokens: 10 }),
    ]);
    expect([first, second, third].map((result) => result.tokenIds)).toEqual(alone.map((result) => result.tokenIds));
    expect(scored.logProbs).toEqual(scoredAlone.logProbs);
  });
});

describe('OnnxEngine stop strings', () => {
  let unconstrained: { result: GenerateResult; deltas: string[] };
  beforeAll(async () => {
    unconstrained = await generateStreaming(engine, { prompt: PROMPT, maxTokens: 40 });
  });

  /** Rerun with `stop` and check the contract: text cut right before its first occurrence, never streamed. */
  async function expectStopsAt(stop: string) {
    const full = unconstrained.result.text;
    const cut = full.indexOf(stop);
    expect(cut, `${JSON.stringify(stop)} is not in ${JSON.stringify(full)}`).toBeGreaterThan(0);
    const { result, deltas } = await generateStreaming(engine, { prompt: PROMPT, maxTokens: 40, stop: [stop] });
    expect(result.text).toBe(full.slice(0, cut));
    expect(result.finishReason).toBe('stop');
    expect(deltas.join('')).toBe(result.text);
    for (const delta of deltas) expect(delta).not.toContain(stop);
    expect(result.text).not.toContain(stop);
    expect(result.completionTokens).toBeLessThan(unconstrained.result.completionTokens);
    // The tokens are the unconstrained ones up to where the stop string was seen.
    expect(result.tokenIds).toEqual(unconstrained.result.tokenIds.slice(0, result.tokenIds.length));
  }

  /** A stop string of plain letters around `position`, whose first occurrence is there. */
  function stopAround(text: string, position: number, length: number): string {
    for (let offset = 0; offset < text.length; offset++) {
      for (const start of [position + offset, position - offset]) {
        const candidate = text.slice(start, start + length);
        if (start > 0 && candidate.length === length && /^[a-z]+$/i.test(candidate) && text.indexOf(candidate) === start) return candidate;
      }
    }
    throw new Error(`no plain ${length}-letter stop string in ${JSON.stringify(text)}`);
  }

  it('cuts at a stop string from the middle of the unconstrained text', async () => {
    const full = unconstrained.result.text;
    await expectStopsAt(stopAround(full, Math.floor(full.length / 2), 2));
  });

  it('cuts at a stop string that spans two streamed pieces', async () => {
    const { deltas } = unconstrained;
    // The boundary between two middle deltas, with a stop string made of the characters either side of it.
    const full = unconstrained.result.text;
    let boundary = 0;
    let spanning: string | undefined;
    for (const delta of deltas.slice(0, -1)) {
      boundary += delta.length;
      const candidate = full.slice(boundary - 2, boundary + 2);
      if (boundary > full.length / 3 && candidate.length === 4 && !candidate.includes('\uFFFD') && full.indexOf(candidate) === boundary - 2) {
        spanning = candidate;
        break;
      }
    }
    expect(spanning, `no stop string spans a delta boundary in ${JSON.stringify(deltas)}`).toBeDefined();
    await expectStopsAt(spanning!);
  });

  it('text held back as the possible start of a stop string is emitted when generation ends without it', async () => {
    const full = unconstrained.result.text;
    // Starts with the text's last characters, so the matcher holds them until the generation ends.
    const stop = `${full.slice(-2)}\u0000`;
    const { result, deltas } = await generateStreaming(engine, { prompt: PROMPT, maxTokens: 40, stop: [stop] });
    expect(result.text).toBe(full);
    expect(deltas.join('')).toBe(full);
    expect(result.finishReason).toBe(unconstrained.result.finishReason);
  });

  it('the earliest of several stop strings wins; an absent one changes nothing', async () => {
    const full = unconstrained.result.text;
    const late = stopAround(full, Math.floor((full.length * 3) / 4), 2);
    const early = stopAround(full, Math.floor(full.length / 3), 2);
    expect(full.indexOf(early)).toBeLessThan(full.indexOf(late));
    const both = await engine.generate({ prompt: PROMPT, maxTokens: 40, stop: [late, early] });
    expect(both.text).toBe(full.slice(0, full.indexOf(early)));
    const absent = await engine.generate({ prompt: PROMPT, maxTokens: 40, stop: ['\u0000never\u0000'] });
    expect(absent.text).toBe(full);
    expect(absent.finishReason).toBe(unconstrained.result.finishReason);
  });
});

describe('OnnxEngine sampling seeds', () => {
  const sampled = (seed: number | undefined, temperature = 1) => engine.generate({ prompt: PROMPT, maxTokens: 16, temperature, ...(seed === undefined ? {} : { seed }) });

  it('the same seed gives the same tokens; another seed other tokens', async () => {
    const first = await sampled(7);
    const again = await sampled(7);
    const other = await sampled(8);
    expect(again.tokenIds).toEqual(first.tokenIds);
    expect(again.text).toBe(first.text);
    expect(other.tokenIds).not.toEqual(first.tokenIds);
  });

  it('sampling at temperature 1 differs from greedy; temperature 0 ignores the seed', async () => {
    const greedy = await engine.generate({ prompt: PROMPT, maxTokens: 16 });
    expect((await sampled(7)).tokenIds).not.toEqual(greedy.tokenIds);
    expect((await sampled(7, 0)).tokenIds).toEqual(greedy.tokenIds);
    expect((await sampled(8, 0)).tokenIds).toEqual(greedy.tokenIds);
  });

  it('topK 1 is greedy whatever the temperature and seed', async () => {
    const greedy = await engine.generate({ prompt: PROMPT, maxTokens: 16 });
    const topOne = await engine.generate({ prompt: PROMPT, maxTokens: 16, temperature: 1.5, topK: 1, seed: 3 });
    expect(topOne.tokenIds).toEqual(greedy.tokenIds);
  });
});

describe('OnnxEngine prefix reuse of the KV memory', () => {
  const extended = `${PROMPT} past the old town and`;
  const diverging = 'A lake sits past the old town and';

  it('a prompt extending the previous one (cached prefix reused) gives what a fresh engine gives', async () => {
    const reused = await openEngine();
    const fresh = await openEngine();
    await reused.generate({ prompt: PROMPT, maxTokens: 8 });
    const forward = vi.spyOn(reused.model, 'forward');
    const afterReuse = await reused.generate({ prompt: extended, maxTokens: 16 });
    // The prefill ran only the tokens after the shared prefix: the cache really was used.
    const prefillTokens = forward.mock.calls[0]![0].length;
    forward.mockRestore();
    expect(prefillTokens).toBeLessThan(afterReuse.promptTokens);
    expect(prefillTokens).toBeGreaterThanOrEqual(1);
    const expected = await fresh.generate({ prompt: extended, maxTokens: 16 });
    expect(afterReuse.tokenIds).toEqual(expected.tokenIds);
    expect(afterReuse.text).toBe(expected.text);
    // And both equal the reference.
    expect(expected.tokenIds).toEqual(referenceGreedy(reference.tokenizer.encode(extended), 16).tokenIds);
  });

  it('continuing from the generated tokens themselves (the next chat turn) equals a fresh engine', async () => {
    const reused = await openEngine();
    const fresh = await openEngine();
    const promptIds = reference.tokenizer.encode(PROMPT);
    const first = await reused.generate({ promptTokenIds: promptIds, maxTokens: 8 });
    const next = [...promptIds, ...first.tokenIds, ...reference.tokenizer.encode(' and then')];
    const afterReuse = await reused.generate({ promptTokenIds: next, maxTokens: 12 });
    expect(afterReuse.tokenIds).toEqual((await fresh.generate({ promptTokenIds: next, maxTokens: 12 })).tokenIds);
  });

  it('a prompt diverging early, a shorter prompt, and a repeat after score/embed all equal a fresh engine', async () => {
    const reused = await openEngine();
    const fresh = await openEngine();
    const prompts = [extended, diverging, PROMPT, extended];
    const results: GenerateResult[] = [];
    for (const [index, prompt] of prompts.entries()) {
      results.push(await reused.generate({ prompt, maxTokens: 12 }));
      if (index === 2) {
        await reused.score(diverging, ' the end');
        await reused.embed(['something else entirely']);
      }
    }
    for (const [index, prompt] of prompts.entries()) {
      const expected = await fresh.generate({ prompt, maxTokens: 12 });
      await fresh.generate({ prompt: 'unrelated words here', maxTokens: 2 }); // fresh has no useful prefix next time
      expect(results[index]!.tokenIds, prompt).toEqual(expected.tokenIds);
    }
  });
});

describe('OnnxEngine score', () => {
  const context = 'The river runs';
  const continuation = ' past the old town';

  it('logProbs and entropies equal log-softmax of the reference logits', async () => {
    const contextIds = reference.tokenizer.encode(context);
    const continuationIds = reference.tokenizer.encode(continuation);
    expect(continuationIds.length).toBeGreaterThan(1);
    const scored = await engine.score(context, continuation);
    expect(scored.contextTokens).toBe(contextIds.length);
    expect(scored.tokenIds).toEqual(continuationIds);
    const { vocabSize } = reference.config;
    const logits = referenceLogits([...contextIds, ...continuationIds]);
    expect(scored.logProbs).toHaveLength(continuationIds.length);
    expect(scored.entropies).toHaveLength(continuationIds.length);
    continuationIds.forEach((tokenId, index) => {
      const logProbs = logSoftmaxRow(logits, contextIds.length - 1 + index, vocabSize);
      const entropy = -logProbs.reduce((sum, logProb) => sum + Math.exp(logProb) * logProb, 0);
      expect(Math.abs(scored.logProbs[index]! - logProbs[tokenId]!), `logProb ${index}`).toBeLessThan(TOLERANCE);
      expect(Math.abs(scored.entropies[index]! - entropy), `entropy ${index}`).toBeLessThan(TOLERANCE);
      expect(scored.logProbs[index]!).toBeLessThan(0);
    });
  });

  it('an empty continuation gives empty arrays; an empty context is scored after BOS', async () => {
    const empty = await engine.score(context, '');
    expect(empty).toEqual({ tokenIds: [], logProbs: [], entropies: [], contextTokens: reference.tokenizer.encode(context).length });

    const fromBos = await engine.score('', continuation);
    expect(fromBos.contextTokens).toBe(1);
    const continuationIds = reference.tokenizer.encode(continuation);
    const logits = referenceLogits([reference.tokenizer.bosTokenId!, ...continuationIds]);
    continuationIds.forEach((tokenId, index) => {
      expect(Math.abs(fromBos.logProbs[index]! - logSoftmaxRow(logits, index, reference.config.vocabSize)[tokenId]!)).toBeLessThan(TOLERANCE);
    });
  });

  it('is deterministic, and unaffected by a generation before it', async () => {
    const first = await engine.score(context, continuation);
    await engine.generate({ prompt: 'Something else', maxTokens: 4 });
    expect(await engine.score(context, continuation)).toEqual(first);
  });

  it('refuses context + continuation longer than the context window', async () => {
    const small = await openEngine({ contextWindow: 8 });
    const error = await small.score('The river runs past', ' the old town and on to the sea').catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(PromptOverflowError);
  });
});

describe('OnnxEngine embed', () => {
  const texts = ['The river runs', 'past the old town', 'x'];

  it('one vector of hiddenSize per text, the mean of the reference final-normed hidden rows', async () => {
    const vectors = await engine.embed(texts);
    expect(vectors).toHaveLength(texts.length);
    const { hiddenSize } = reference.config;
    texts.forEach((text, index) => {
      const ids = reference.tokenizer.encode(text);
      const { hidden } = referenceForward(reference.config, reference.weights, ids);
      const mean = Array.from({ length: hiddenSize }, (_, column) => ids.reduce((sum, _id, row) => sum + hidden[row * hiddenSize + column]!, 0) / ids.length);
      const vector = vectors[index]!;
      expect(vector).toHaveLength(hiddenSize);
      expect(engine.info.hiddenSize).toBe(hiddenSize);
      const worst = Math.max(...vector.map((value, column) => Math.abs(value - mean[column]!)));
      expect(worst, text).toBeLessThan(TOLERANCE);
    });
  });

  it('is deterministic, per text independent of the batch, and the empty text is a zero vector', async () => {
    const batch = await engine.embed(texts);
    expect(await engine.embed(texts)).toEqual(batch);
    expect(await engine.embed([texts[1]!])).toEqual([batch[1]]);
    expect(batch[0]).not.toEqual(batch[1]);
    const [empty] = await engine.embed(['']);
    expect(empty).toEqual(new Array(engine.info.hiddenSize).fill(0));
    expect(await engine.embed([])).toEqual([]);
  });
});

describe('OnnxEngine abort', () => {
  // The contract, as this engine implements it: an abort during decoding resolves with the text so far and
  // finishReason 'aborted'; an abort before any token (an already-aborted signal, or one during the prefill)
  // rejects with AbortedError.
  it('a signal aborted by a timer mid-generation stops it early, with finishReason aborted', async () => {
    const controller = new AbortController();
    const started = performance.now();
    let abortedAt = 0;
    setTimeout(() => {
      abortedAt = performance.now();
      controller.abort();
    }, 50);
    const result = await engine.generate({ prompt: PROMPT, maxTokens: 2000, signal: controller.signal });
    const stoppedAfter = performance.now() - abortedAt;
    expect(abortedAt, 'the generation ended before the abort').toBeGreaterThan(started);
    expect(result.finishReason).toBe('aborted');
    expect(result.completionTokens).toBeGreaterThan(0);
    expect(result.completionTokens).toBeLessThan(2000);
    expect(stoppedAfter).toBeLessThan(500);
    // The engine is intact afterwards: the next generation is the reference's.
    const next = await engine.generate({ prompt: PROMPT, maxTokens: GOLDEN_TOKENS });
    expect(next.tokenIds).toEqual(referenceGreedy(reference.tokenizer.encode(PROMPT), GOLDEN_TOKENS).tokenIds);
  });

  it('an abort during the prefill of a long prompt rejects with AbortedError, and the memory is rolled back', async () => {
    const chunked = await openEngine({ prefillChunkSize: 128 });
    const longPrompt = 'the river runs '.repeat(280);
    expect(await chunked.countTokens(longPrompt)).toBeGreaterThan(1500);
    const controller = new AbortController();
    // Abort once the first chunk is in memory: mid-prefill however fast this machine runs the tiny model (a fixed
    // 20 ms timer fired after the whole prefill once attention got faster). Every session run yields to the event loop.
    const watcher = setInterval(() => {
      if (chunked.model.memory.length > 0) controller.abort();
    }, 0);
    const started = performance.now();
    const error = await chunked.generate({ prompt: longPrompt, maxTokens: 4, signal: controller.signal }).catch((caught: unknown) => caught);
    clearInterval(watcher);
    expect(error).toBeInstanceOf(AbortedError);
    expect(performance.now() - started).toBeLessThan(500);
    expect(chunked.model.memory.length).toBe(0);
    const next = await chunked.generate({ prompt: PROMPT, maxTokens: GOLDEN_TOKENS });
    expect(next.tokenIds).toEqual(referenceGreedy(reference.tokenizer.encode(PROMPT), GOLDEN_TOKENS).tokenIds);
  });

  it('an already-aborted signal rejects generate, score and embed with AbortedError', async () => {
    const controller = new AbortController();
    controller.abort();
    const { signal } = controller;
    for (const call of [() => engine.generate({ prompt: PROMPT, maxTokens: 4, signal }), () => engine.score(PROMPT, ' past', { signal }), () => engine.embed([PROMPT], { signal })]) {
      const error = await call().catch((caught: unknown) => caught);
      expect(error).toBeInstanceOf(AbortedError);
    }
    expect((await engine.generate({ prompt: PROMPT, maxTokens: 3 })).completionTokens).toBe(3);
  });
});

describe('OnnxEngine option errors', () => {
  it.each<[string, GenerateRequest]>([
    ['temperature -1', { prompt: PROMPT, temperature: -1 }],
    ['topP 0', { prompt: PROMPT, topP: 0, temperature: 1 }],
    ['topK -1', { prompt: PROMPT, topK: -1 }],
    ['maxTokens 0', { prompt: PROMPT, maxTokens: 0 }],
    ['maxTokens 1.5', { prompt: PROMPT, maxTokens: 1.5 }],
    ['both prompt and promptTokenIds', { prompt: PROMPT, promptTokenIds: [1, 2] }],
    ['neither prompt nor promptTokenIds', {}],
  ])('%s → InvalidOptionError', async (_name, request) => {
    const error = await engine.generate(request).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(InvalidOptionError);
    expect(codeOf(error)).toBe('INVALID_OPTION');
  });

  it('a prompt that fills the context window → PromptOverflowError, and the engine still works', async () => {
    const small = await openEngine({ contextWindow: 8 });
    const prompt = 'The river runs past the old town and on to the sea';
    expect(await small.countTokens(prompt)).toBeGreaterThanOrEqual(8);
    const error = await small.generate({ prompt, maxTokens: 4 }).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(PromptOverflowError);
    expect(codeOf(error)).toBe('PROMPT_OVERFLOW');
    expect((await small.generate({ prompt: 'The', maxTokens: 2 })).completionTokens).toBe(2);
  });

  it('a token id outside the vocabulary is refused, and leaves the engine usable', async () => {
    const error = await engine.generate({ promptTokenIds: [1, engine.info.vocabSize + 5], maxTokens: 2 }).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(Error);
    const result = await engine.generate({ prompt: PROMPT, maxTokens: GOLDEN_TOKENS });
    expect(result.tokenIds).toEqual(referenceGreedy(reference.tokenizer.encode(PROMPT), GOLDEN_TOKENS).tokenIds);
  });
});

describe('OnnxEngine past the trained window', () => {
  const longPrompt = 'The river runs past the old town and the mill, where the miller counts his sacks of grain. '.repeat(8);
  const small = { sinks: 4, window: 32, blockSize: 8, stepSize: 16 };

  for (const [mode, options] of [
    ['streaming', small],
    ['blocks', { ...small, topK: 2 }],
    ['blocks', { ...small, topK: 2, offload: 'disk' }],
    ['knn', { ...small, topK: 16 }],
  ] as const) {
    it(`${mode} (${JSON.stringify(options)}): prefix reuse, also reaching into offloaded memory, equals a fresh engine`, async () => {
      const attention = { mode, options };
      const reused = await openEngine({ attention });
      const fresh = await openEngine({ attention });
      const first = await reused.generate({ prompt: longPrompt, maxTokens: 6 });
      expect(first.promptTokens).toBeGreaterThan(100);
      // Extending (reuse of the cached prefix), then diverging early (a cut deep into the memory).
      for (const prompt of [`${longPrompt} And then`, `A lake. ${longPrompt}`]) {
        const afterReuse = await reused.generate({ prompt, maxTokens: 6 });
        const expected = await fresh.generate({ prompt, maxTokens: 6 });
        await fresh.generate({ prompt: 'unrelated words here', maxTokens: 1 });
        expect(afterReuse.tokenIds, prompt.slice(0, 20)).toEqual(expected.tokenIds);
      }
    });
  }

  it('a RoPE override and an attention mode open together; the context window follows them', async () => {
    const engine = await openEngine({ attention: { mode: 'blocks' }, ropeOverride: 'yarn:2' });
    expect(engine.info.contextWindow).toBe(100 * 2048);
    expect((await openEngine({ ropeOverride: 'yarn:2' })).info.contextWindow).toBe(2 * 2048);
    expect((await engine.generate({ prompt: longPrompt, maxTokens: 3 })).completionTokens).toBeGreaterThan(0);
  });
});
