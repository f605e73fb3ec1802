import { AbortedError, TomeError, type TomeErrorCode } from '../src/errors.js';

/** An error as it crosses a thread boundary (TomeErrors keep code, fix and their own scalar fields). */
export interface SerializedError {
  name: string;
  message: string;
  code?: string;
  fix?: string;
  /** A TomeError's own scalar fields (ModelLoadError.file/field, InvalidOptionError.option, …). */
  details?: Record<string, string | number | boolean>;
}

/** The thread's side: what to post for `error`. */
export function serializeError(error: unknown): SerializedError {
  if (TomeError.is(error)) {
    // Own fields (file, field, option, promptTokens, …) travel too, so the main thread sees what the user would.
    const details = Object.fromEntries(Object.entries(error).filter(([, value]) => ['string', 'number', 'boolean'].includes(typeof value)));
    return { name: error.name, message: error.message, code: error.code, fix: error.fix, details };
  }
  const plain = error instanceof Error ? error : new Error(String(error));
  return { name: plain.name, message: plain.message };
}

/** The caller's side: the error again, typed as it was thrown (a plain Error when it was not a TomeError). */
export function reviveError(error: SerializedError): Error {
  if (error.code === 'ABORTED') return new AbortedError();
  if (error.code !== undefined) {
    const revived = new TomeError(error.code as TomeErrorCode, error.message, { fix: error.fix ?? '' });
    Object.assign(revived, error.details ?? {});
    revived.name = error.name;
    return revived;
  }
  const plain = new Error(error.message);
  plain.name = error.name;
  return plain;
}
