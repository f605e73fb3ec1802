import { TomeError } from '../errors.js';

const TRANSIENT_STATUS = new Set([408, 409, 425, 429, 500, 502, 503, 504, 529]);
const TRANSIENT_CODES = new Set(['ECONNRESET', 'ECONNREFUSED', 'ETIMEDOUT', 'EPIPE', 'EAI_AGAIN', 'ENETUNREACH', 'EHOSTUNREACH', 'UND_ERR_SOCKET', 'UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_HEADERS_TIMEOUT']);
const TRANSIENT_NAMES = new Set(['TimeoutError', 'RateLimitError', 'APIConnectionError', 'APIConnectionTimeoutError', 'InternalServerError']);

/**
 * Is this failure likely to go away if the same call is made again? Rate limits, overloaded or failing servers,
 * dropped connections and timeouts are; tome's own errors (bad input, budgets) and aborts never are.
 * Providers disagree on error shapes, so status, code and class name are all consulted.
 */
export function isTransientError(error: unknown, seen: Set<unknown> = new Set()): boolean {
  if (TomeError.is(error) || seen.has(error)) return false;
  seen.add(error);
  if (typeof error !== 'object' || error === null) return false;
  const candidate = error as { name?: unknown; status?: unknown; statusCode?: unknown; code?: unknown; cause?: unknown; transient?: unknown };
  if (candidate.name === 'AbortError') return false;
  if (candidate.transient === true) return true;
  const status = typeof candidate.status === 'number' ? candidate.status : candidate.statusCode;
  if (typeof status === 'number' && TRANSIENT_STATUS.has(status)) return true;
  if (typeof candidate.code === 'string' && TRANSIENT_CODES.has(candidate.code)) return true;
  if (typeof candidate.name === 'string' && TRANSIENT_NAMES.has(candidate.name)) return true;
  // Follow the cause chain (wrapped network errors), guarding against cycles.
  return candidate.cause !== undefined && isTransientError(candidate.cause, seen);
}
