import { mapStoredMessagesToChatMessages } from '@langchain/core/messages';
import type { BaseChatModel } from '@langchain/core/language_models/chat_models';
import { UnrecoverableError } from 'bullmq';
import { TomeError } from '../errors.js';
import type { ModelHandle } from '../models/model-handle.js';
import type { TomeTaskCallOptions } from '../tasks.js';
import type { ContinuationScores } from '../models/prompt-scorer.js';
import { checkModelCallJob, checkScoreJob, type ModelCallResult } from './payload.js';

/** Job names on a model's queue: chat calls, and scoring passes (only models that can score text serve those). */
export const SCORE_JOB = 'score';

/** Run one job from a model's queue with `model`, by its name. */
export function runModelJob(name: string, jobData: unknown, model: ModelHandle): Promise<ModelCallResult | ContinuationScores> {
  return name === SCORE_JOB ? runScore(jobData, model) : runModelCall(jobData, model);
}

/** Score a continuation with the worker's model (a local engine); chat APIs cannot, and fail the job at once. */
export async function runScore(jobData: unknown, model: ModelHandle): Promise<ContinuationScores> {
  const data = unrecoverableOnBadInput(() => checkScoreJob(jobData));
  if (data.spec !== model.spec) throw new UnrecoverableError(`this worker serves ${model.spec}, not ${data.spec}`);
  if (!model.scorer) throw new UnrecoverableError(`${model.spec} cannot score text (chat APIs expose no next-token distributions); serve an onnx: model`);
  return model.scorer.score(data.context, data.continuation);
}

/** Answer one queued model call with `model` (on the worker's thread or in a sandbox thread). */
export async function runModelCall(jobData: unknown, model: ModelHandle): Promise<ModelCallResult> {
  const data = unrecoverableOnBadInput(() => checkModelCallJob(jobData));
  if (data.spec !== model.spec) throw new UnrecoverableError(`this worker serves ${model.spec}, not ${data.spec}`);
  const messages = mapStoredMessagesToChatMessages(data.messages);
  const chatModel = model.chatModel as BaseChatModel<TomeTaskCallOptions & BaseChatModel['ParsedCallOptions']>;
  const reply = await chatModel.invoke(messages, data.task ? { tomeTask: data.task } : {});
  const text = typeof reply.content === 'string' ? reply.content : reply.content.map((part) => ('text' in part && typeof part.text === 'string' ? part.text : '')).join('');
  return { text, responseMetadata: reply.response_metadata };
}

/** Bad job data or an unknown pipeline cannot succeed on a retry: fail the job at once, with tome's message. */
export function unrecoverableOnBadInput<T>(work: () => T): T {
  try {
    return work();
  } catch (error) {
    if (TomeError.is(error)) throw new UnrecoverableError(`${error.message} (${error.fix})`); // = failedReasonOf(error)
    throw error;
  }
}
