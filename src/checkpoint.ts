import { closeSync, existsSync, fsyncSync, openSync, readFileSync, writeSync } from 'node:fs';
import { CheckpointError } from './errors.js';

/**
 * Finished steps of a run, so a run that was killed and started again redoes none of them.
 *
 * File format (JSON lines, append-only): the first line is `{"tome":"checkpoint","version":1,"run":{…}}` where
 * `run` fingerprints the arguments (pipeline, model, budgets, document hash); every further line is
 * `{"key":"…","value":…}`. Each record is written with one `write` and fsync'd, so a crash loses at most the
 * record being written; a torn last line is ignored on load.
 */
export interface Checkpoint {
  /** The stored value of a finished step, or `undefined`. */
  get<Value>(key: string): Value | undefined;
  /** Record a finished step. */
  put(key: string, value: unknown): void;
  /** Number of finished steps held. */
  readonly size: number;
  close(): void;
}

/** A checkpoint that remembers nothing: the default when no file is given. */
export class NoCheckpoint implements Checkpoint {
  get<Value>(): Value | undefined {
    return undefined;
  }
  put(): void {}
  get size(): number {
    return 0;
  }
  close(): void {}
}

const HEADER_TAG = 'checkpoint';
const FORMAT_VERSION = 1;

export class FileCheckpoint implements Checkpoint {
  private readonly values = new Map<string, unknown>();
  private descriptor: number | undefined;

  private constructor(readonly path: string) {}

  /**
   * Open `path` for the run described by `run` (any JSON value). A missing or empty file starts fresh.
   * @throws CheckpointError CHECKPOINT_MISMATCH when the file was written by a run with other arguments,
   *   CHECKPOINT_UNREADABLE when it is not a tome checkpoint.
   */
  static open(path: string, run: unknown): FileCheckpoint {
    const checkpoint = new FileCheckpoint(path);
    const expected = JSON.stringify(run);
    const existing = existsSync(path) ? readText(path) : '';
    // Empty, or only a header torn by a crash before its newline: nothing was recorded, start fresh.
    if (existing.trim() === '' || (!existing.includes('\n') && parseLine(existing) === undefined)) {
      checkpoint.descriptor = openFile(path, 'w');
      checkpoint.append({ tome: HEADER_TAG, version: FORMAT_VERSION, run });
      return checkpoint;
    }
    const lines = existing.split('\n');
    const header = parseLine(lines[0]!);
    if (!isHeader(header)) {
      throw new CheckpointError('CHECKPOINT_UNREADABLE', path, 'is not a tome checkpoint file', 'pass another --checkpoint path, or delete this file');
    }
    if (JSON.stringify(header.run) !== expected) {
      throw new CheckpointError(
        'CHECKPOINT_MISMATCH',
        path,
        `was written by a run with other arguments (${JSON.stringify(header.run)})`,
        'rerun with the same file, model and options, or pass a new --checkpoint path',
      );
    }
    for (const line of lines.slice(1)) {
      const record = parseLine(line);
      if (isRecord(record)) checkpoint.values.set(record.key, record.value);
    }
    checkpoint.descriptor = openFile(path, 'a');
    // A torn last line (crash mid-write) would glue onto the next record; start on a fresh line.
    if (!existing.endsWith('\n')) writeSync(checkpoint.descriptor, '\n');
    return checkpoint;
  }

  get<Value>(key: string): Value | undefined {
    return this.values.get(key) as Value | undefined;
  }

  /** `undefined` is stored as `null` (JSON has no undefined), so a step that returns nothing still counts as done. */
  put(key: string, value: unknown): void {
    const stored = value === undefined ? null : value;
    this.append({ key, value: stored });
    this.values.set(key, stored);
  }

  get size(): number {
    return this.values.size;
  }

  close(): void {
    if (this.descriptor !== undefined) closeSync(this.descriptor);
    this.descriptor = undefined;
  }

  private append(record: unknown): void {
    if (this.descriptor === undefined) throw new CheckpointError('CHECKPOINT_UNREADABLE', this.path, 'is closed', 'open the checkpoint again');
    writeSync(this.descriptor, `${JSON.stringify(record)}\n`);
    fsyncSync(this.descriptor);
  }
}

function readText(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (cause) {
    throw new CheckpointError('CHECKPOINT_UNREADABLE', path, `cannot be read (${(cause as NodeJS.ErrnoException).code ?? 'error'})`, 'check the path and its permissions', cause);
  }
}

function openFile(path: string, flags: 'w' | 'a'): number {
  try {
    return openSync(path, flags);
  } catch (cause) {
    throw new CheckpointError('CHECKPOINT_UNREADABLE', path, `cannot be written (${(cause as NodeJS.ErrnoException).code ?? 'error'})`, 'pass a --checkpoint path in a writable directory', cause);
  }
}

function parseLine(line: string): unknown {
  try {
    return JSON.parse(line);
  } catch {
    return undefined;
  }
}

function isHeader(value: unknown): value is { tome: string; version: number; run: unknown } {
  return typeof value === 'object' && value !== null && (value as { tome?: unknown }).tome === HEADER_TAG && (value as { version?: unknown }).version === FORMAT_VERSION;
}

function isRecord(value: unknown): value is { key: string; value: unknown } {
  return typeof value === 'object' && value !== null && typeof (value as { key?: unknown }).key === 'string' && 'value' in value;
}
