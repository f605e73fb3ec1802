import { createHash } from 'node:crypto';

/** Documents waiting for a pipeline run. */
export const DOCUMENT_QUEUE = 'documents';

/**
 * Model calls go to one queue per model spec, so a worker only ever takes calls for the model it serves (workers
 * with different models can share one Redis). The name is readable and bounded: `calls-<spec slug>-<hash>`.
 */
export function modelCallQueue(spec: string): string {
  const slug = spec.toLowerCase().replace(/[^a-z0-9]+/g, '-').slice(0, 40);
  return `calls-${slug}-${createHash('sha256').update(spec).digest('hex').slice(0, 8)}`;
}

/** Redis key of a stored document text. */
export function documentKey(prefix: string, sha256: string): string {
  return `${prefix}:doc:${sha256}`;
}

/** Steps of registered tasks (RedisExecutor.map and flows): any worker started with tasks takes them. */
export const TASK_QUEUE = 'tasks';
