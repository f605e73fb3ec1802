import { BaseChatModel, type BaseChatModelCallOptions } from '@langchain/core/language_models/chat_models';
import { mapChatMessagesToStoredMessages, type BaseMessage } from '@langchain/core/messages';
import type { ChatResult } from '@langchain/core/outputs';
import type { TomeDocument } from '../documents.js';
import { AbortedError } from '../errors.js';
import { modelHandleFrom } from '../models/model-handle.js';
import { getPipeline } from '../pipeline/registry.js';
import type { TomeTaskCallOptions } from '../tasks.js';
import { onAbort } from './on-abort.js';
import type { ModelCallJob } from './payload.js';

interface RecordingCallOptions extends BaseChatModelCallOptions, TomeTaskCallOptions {}

/** Records the calls made to it and never answers them (until aborted): a dry run's model. */
class RecordingChatModel extends BaseChatModel<RecordingCallOptions> {
  readonly calls: ModelCallJob[] = [];

  constructor(private readonly spec: string) {
    super({});
  }

  _llmType(): string {
    return 'tome-recording';
  }

  async _generate(messages: BaseMessage[], options: this['ParsedCallOptions']): Promise<ChatResult> {
    this.calls.push({ spec: this.spec, messages: mapChatMessagesToStoredMessages(messages), ...(options.tomeTask ? { task: options.tomeTask } : {}) });
    return new Promise<ChatResult>((_, reject) => {
      const signal = options.signal;
      // Every call of the wave waits on the same signal: one shared listener (onAbort), not one each.
      if (signal) onAbort(signal, () => reject(new AbortedError(signal.reason)));
    });
  }
}

/** How long the dry run waits, in ms, without a new call before taking the wave as complete. */
const QUIET_MS = 50;
/** Give up planning after this long (a pipeline that computes for long before calling the model). */
const PLANNING_LIMIT_MS = 5000;

/**
 * The model calls a pipeline makes before it needs any answer: e.g. every leaf summary of a hierarchical summary,
 * the first worker of a chain. Found by a dry run against a model that records and never answers. These become a
 * document's child jobs on the queue, so the document job (the parent) runs when they have finished. Returns []
 * when the pipeline is not registered here or makes no call in time.
 */
export async function firstWave(document: TomeDocument, pipelineName: string, options: Record<string, string>, spec: string, contextWindow: number): Promise<ModelCallJob[]> {
  let create;
  try {
    create = getPipeline(pipelineName).create;
  } catch {
    return [];
  }
  const recorder = new RecordingChatModel(spec);
  const controller = new AbortController();
  let finished = false;
  const run = Promise.resolve()
    .then(() => create({ model: modelHandleFrom(recorder, { name: spec, contextWindow }), concurrency: 4096 }, options).invoke(document, { signal: controller.signal }))
    .catch(() => {})
    .finally(() => {
      finished = true;
    });
  const started = Date.now();
  let seen = -1;
  while (!finished && Date.now() - started < PLANNING_LIMIT_MS && (recorder.calls.length === 0 || recorder.calls.length !== seen)) {
    seen = recorder.calls.length;
    await new Promise((resolve) => setTimeout(resolve, QUIET_MS));
  }
  controller.abort(new Error('first wave recorded'));
  await run;
  return recorder.calls;
}
