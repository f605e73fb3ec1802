import type { MemoryItem } from '../../src/memory/memory-item.js';
import type { MemoryStream } from '../../src/memory/memory-stream.js';
import type { ModelHandle } from '../../src/models/model-handle.js';
import { callModel, countPromptTokens, type AgentRuntime } from '../model-call.js';
import { MemoryController, type ControllerOutcome, type MemoryControllerOptions } from './memory-controller.js';
import { answerWithMemoryPrompt, memorySummaryPrompt } from './prompts.js';

export interface ScmReply {
  readonly answer: string;
  readonly control: ControllerOutcome;
  /** The turn as stored in memory (when `remember` was on). */
  readonly stored?: MemoryItem;
}

export interface ScmAgentOptions extends MemoryControllerOptions {
  /** Words an answer may take. Default 130. */
  answerWords?: number;
  /** Words of each memory item's summary. Default 60. */
  summaryWords?: number;
}

/**
 * The Self-Controlled Memory agent: the controller picks what to recall, the model answers from the fused memory,
 * and (in a conversation) the new turn joins the memory stream with its one-paragraph summary.
 */
export class ScmAgent {
  readonly controller: MemoryController;
  readonly answerWords: number;
  readonly summaryWords: number;

  constructor(
    readonly model: ModelHandle,
    options: ScmAgentOptions = {},
  ) {
    this.controller = new MemoryController(model, options);
    this.answerWords = options.answerWords ?? 130;
    this.summaryWords = options.summaryWords ?? 60;
  }

  /** Answer `input` from memory; with `remember`, store the turn afterwards. */
  async reply(input: string, stream: MemoryStream, runtime: AgentRuntime = {}, options: { remember?: boolean; previousTurn?: MemoryItem } = {}): Promise<ScmReply> {
    const control = await this.controller.decide(input, stream, runtime, options.previousTurn);
    runtime.emit?.({ type: 'memory-decisions', needsMemory: control.needsMemory, decisions: control.decisions });
    const memory = fuseMemory(control);
    const messages = await answerWithMemoryPrompt.formatMessages({ memory: memory === '' ? '(nothing)' : memory, input, wordLimit: this.answerWords });
    const reply = await callModel(
      this.model,
      // The task's source is the recalled text without the prompt's labels: engines that quote it should not quote labels.
      { step: 'scm/answer', messages, task: { kind: 'answer', source: recalledText(control), query: input, wordLimit: this.answerWords }, reservedOutputTokens: Math.ceil(this.answerWords / 0.65) },
      runtime,
    );
    if (!options.remember) return { answer: reply.text, control };
    const summary = await this.summarize(`User: ${input}\nAssistant: ${reply.text}`, 'scm/remember', runtime);
    const stored = await stream.add({ kind: 'turn', text: input, response: reply.text, summary });
    return { answer: reply.text, control, stored };
  }

  /** One-paragraph summary of a memory item's text. */
  async summarize(text: string, step: string, runtime: AgentRuntime = {}): Promise<string> {
    const reply = await callModel(
      this.model,
      {
        step,
        messages: await memorySummaryPrompt.formatMessages({ text, wordLimit: this.summaryWords }),
        task: { kind: 'summarize', source: text, wordLimit: this.summaryWords },
        reservedOutputTokens: Math.ceil(this.summaryWords / 0.65),
      },
      runtime,
    );
    return reply.text;
  }

  /** Tokens of the answer prompt without memory and input: what ingestion must leave room for. */
  async fixedPromptTokens(): Promise<number> {
    return countPromptTokens(this.model, await answerWithMemoryPrompt.formatMessages({ memory: '', input: '', wordLimit: this.answerWords }));
  }
}

/** The memory part of the answer prompt: each memory labelled, oldest first, the previous turn last. */
export function fuseMemory(control: ControllerOutcome): string {
  const parts = control.activated.map((memory) => `[memory ${memory.item.index}${memory.form === 'summary' ? ', summary' : ''}]\n${memory.content}`);
  if (control.flash) parts.push(`[previous turn${control.flash.form === 'summary' ? ', summary' : ''}]\n${control.flash.content}`);
  return parts.join('\n\n');
}

/** The recalled contents alone, oldest first, previous turn last. */
export function recalledText(control: ControllerOutcome): string {
  return [...control.activated.map((memory) => memory.content), ...(control.flash ? [control.flash.content] : [])].join('\n\n');
}
