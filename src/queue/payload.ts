import type { StoredMessage } from '@langchain/core/messages';
import { z } from 'zod';
import { QueueError } from '../errors.js';
import type { ModelTask } from '../tasks.js';

/** Largest job payload tome sends (a model call carries its prompt; a document job only a reference). */
export const MAX_PAYLOAD_BYTES = 4 * 1024 * 1024;

/** One model call, executed by whichever worker serves `spec`. */
export interface ModelCallJob {
  readonly spec: string;
  readonly messages: StoredMessage[];
  readonly task?: ModelTask;
}

export interface ModelCallResult {
  readonly text: string;
  readonly responseMetadata: Record<string, unknown>;
}

/** One scoring pass (XL3M's certainty, evaluation): log-probabilities of `continuation` after `context`. */
export interface ScoreJob {
  readonly spec: string;
  readonly context: string;
  readonly continuation: string;
}

/** A whole document run through a registered pipeline; the text travels once, by content hash. */
export interface DocumentJob {
  readonly documentSha256: string;
  readonly documentName: string;
  readonly pipeline: string;
  readonly options: Record<string, string>;
  readonly model: string;
  readonly contextWindow: number;
}

const storedMessage = z.object({ type: z.string().max(64), data: z.object({ content: z.unknown() }).passthrough() }).passthrough();
const modelCallSchema = z.object({ spec: z.string().min(1).max(512), messages: z.array(storedMessage).min(1).max(10_000), task: z.object({ kind: z.string() }).passthrough().optional() });
const scoreJobSchema = z.object({ spec: z.string().min(1).max(512), context: z.string(), continuation: z.string().min(1) });
const documentJobSchema = z.object({
  documentSha256: z.string().regex(/^[0-9a-f]{64}$/),
  documentName: z.string().max(1024),
  pipeline: z.string().regex(/^[a-z0-9][a-z0-9-]*$/),
  options: z.record(z.string(), z.string().max(100_000)),
  model: z.string().min(1).max(512),
  contextWindow: z.number().int().min(256),
});

/** @throws QueueError QUEUE_PAYLOAD_INVALID when the payload is malformed or over {@link MAX_PAYLOAD_BYTES}. */
export function checkModelCallJob(value: unknown): ModelCallJob {
  return check(modelCallSchema, value, 'model call') as unknown as ModelCallJob;
}

/** @throws QueueError QUEUE_PAYLOAD_INVALID when the payload is malformed or over {@link MAX_PAYLOAD_BYTES}. */
export function checkScoreJob(value: unknown): ScoreJob {
  return check(scoreJobSchema, value, 'score') as ScoreJob;
}

/** @throws QueueError QUEUE_PAYLOAD_INVALID */
export function checkDocumentJob(value: unknown): DocumentJob {
  return check(documentJobSchema, value, 'document job') as DocumentJob;
}

function check(schema: z.ZodType, value: unknown, what: string): unknown {
  const size = Buffer.byteLength(JSON.stringify(value) ?? '', 'utf8');
  if (size > MAX_PAYLOAD_BYTES) {
    throw new QueueError('QUEUE_PAYLOAD_INVALID', `${what} payload of ${size} bytes exceeds the ${MAX_PAYLOAD_BYTES}-byte limit`, 'use a smaller --chunk-tokens, or a model with a smaller window');
  }
  const parsed = schema.safeParse(value);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new QueueError('QUEUE_PAYLOAD_INVALID', `malformed ${what}: ${issue?.path.join('.') || '(root)'} ${issue?.message ?? ''}`.trim(), 'submit jobs through tome (submitDocument or a tome model), not by hand');
  }
  return parsed.data;
}

/** One step of a registered task (see registerTask), run by whichever worker takes it from the tasks queue. */
export interface TaskJob {
  readonly task: string;
  readonly input: unknown;
  /** The step's position in its `map` (0 in a flow). */
  readonly index: number;
  /** A flow parent's children, as job ids, in order: the order of `context.childrenValues`. */
  readonly children?: readonly string[];
}

const taskJobSchema = z.object({
  task: z.string().regex(/^[a-z0-9][a-z0-9-]*(\/[a-z0-9][a-z0-9-]*)*$/).max(200),
  input: z.unknown(),
  index: z.number().int().min(0),
  children: z.array(z.string().min(1).max(200)).optional(),
});

/** @throws QueueError QUEUE_PAYLOAD_INVALID */
export function checkTaskJob(value: unknown): TaskJob {
  if (typeof value !== 'object' || value === null || !('input' in value) || (value as { input: unknown }).input === undefined) {
    throw new QueueError('QUEUE_PAYLOAD_INVALID', 'malformed task job: input is missing (inputs must be JSON values)', 'submit tasks through an executor (executor.map), not by hand');
  }
  return check(taskJobSchema, value, 'task job') as TaskJob;
}
