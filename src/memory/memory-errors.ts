import { TomeError } from '../errors.js';

/**
 * A memory store cannot be read or written: not a tome memory stream, a damaged record, items out of order, or
 * an I/O failure. Uses the existing `INPUT_UNREADABLE` code: the stream is the memory's input, and the error
 * codes are a closed set shared by the whole of tome.
 */
export class MemoryStoreError extends TomeError {
  constructor(
    /** The store's description (a file path, a Redis key), never a credential. */
    readonly location: string,
    problem: string,
    fix: string,
    cause?: unknown,
  ) {
    super('INPUT_UNREADABLE', `memory stream ${location}: ${problem}`, { fix, cause });
  }
}

/**
 * The memory index file could not be written. The index is derived data: nothing stored is lost, and the next
 * `open` rebuilds or extends the index from the stream, but it is slower until a write succeeds.
 */
export class MemoryIndexError extends TomeError {
  constructor(
    readonly path: string,
    problem: string,
    cause?: unknown,
  ) {
    super('INPUT_UNREADABLE', `memory index ${path}: ${problem}`, {
      fix: 'check free disk space and permissions for the index path; the memory itself is intact and the index is rebuilt from it when missing',
      cause,
    });
  }
}
