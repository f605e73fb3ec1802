import { closeSync, fsyncSync, mkdirSync, openSync, readFileSync, truncateSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { findIndexBreak, parseMemoryItem, type MemoryItem } from './memory-item.js';
import { MemoryStoreError } from './memory-errors.js';
import type { MemoryStore } from './memory-store.js';

const HEADER_TAG = 'memory-stream';
const FORMAT_VERSION = 1;
const HEADER_LINE = `${JSON.stringify({ tome: HEADER_TAG, version: FORMAT_VERSION })}\n`;
const NEWLINE = 0x0a;

/** The file name of the stream inside a memory directory. */
export const STREAM_FILE_NAME = 'stream.jsonl';

const DAMAGED_FIX = 'restore the file from a backup, or move it away to start an empty memory (tome never rewrites it)';

/**
 * A memory stream kept in one append-only JSON-lines file, `<directory>/stream.jsonl`, the same way as tome's
 * checkpoints: the first line is `{"tome":"memory-stream","version":1}`, every further line one {@link MemoryItem}.
 *
 * Each append is one `write` of one line followed by an fsync, so when `append` resolves the item survives a crash
 * or power loss. A crash can only leave a torn last line (no newline): that item was never acknowledged, so
 * `open` cuts it off and the file continues on a fresh line. Anything else that does not parse (a damaged line in
 * the middle, a foreign file, items out of order) is refused with a {@link MemoryStoreError} naming the file and
 * line: the stream is the memory's only source of truth, so tome does not guess around damage.
 *
 * One writer per directory: two processes appending to the same file would both be refused the second time their
 * counts disagree, but only when they next append.
 */
export class LogMemoryStore implements MemoryStore {
  /** Path of the stream file. */
  readonly path: string;
  private descriptor: number | undefined;
  /** Index the next appended item must have. */
  private nextIndex: number;
  /** Set when a write failed part-way: the file may end in a torn line, which only a reopen repairs. */
  private failed = false;

  private constructor(
    /** The memory directory; derived files (such as the memory index) can live beside the stream. */
    readonly directory: string,
    descriptor: number,
    itemCount: number,
  ) {
    this.path = join(directory, STREAM_FILE_NAME);
    this.descriptor = descriptor;
    this.nextIndex = itemCount;
  }

  get description(): string {
    return this.path;
  }

  /**
   * Open the memory in `directory`, creating the directory and an empty stream when missing, and cutting off a
   * torn last line left by a crash.
   * @throws MemoryStoreError when the file is not a tome memory stream or cannot be read or written.
   */
  static async open(directory: string): Promise<LogMemoryStore> {
    const path = join(directory, STREAM_FILE_NAME);
    attempt(path, 'the memory directory cannot be created', 'pass a directory you can write to', () => mkdirSync(directory, { recursive: true }));
    const existing = readStream(path);
    // Missing, empty, or only part of the header (a crash while creating it): nothing was stored, start fresh.
    if (existing === undefined || HEADER_LINE.startsWith(existing.toString('utf8'))) {
      const descriptor = openFor(path, 'w');
      writeAll(path, descriptor, Buffer.from(HEADER_LINE));
      syncDirectory(directory);
      return new LogMemoryStore(directory, descriptor, 0);
    }
    checkHeader(path, existing);
    let complete = existing;
    const end = existing.lastIndexOf(NEWLINE) + 1;
    if (end < existing.length) {
      // A torn last line: the append that wrote it never returned, so the item was never committed.
      attempt(path, 'its torn last line cannot be cut off', 'check the file permissions', () => truncateSync(path, end));
      complete = existing.subarray(0, end);
    }
    const descriptor = openFor(path, 'a');
    return new LogMemoryStore(directory, descriptor, countLines(complete) - 1);
  }

  /** Every item in the file, in index order (a torn last line is skipped, as in `open`). */
  async load(): Promise<MemoryItem[]> {
    const text = (readStream(this.path) ?? Buffer.alloc(0)).toString('utf8');
    const lines = text.split('\n');
    // The piece after the last newline is empty, or a torn line that was never committed.
    lines.pop();
    const items: MemoryItem[] = [];
    for (let position = 1; position < lines.length; position++) {
      const line = lines[position]!;
      const lineNumber = position + 1;
      let value: unknown;
      try {
        value = JSON.parse(line);
      } catch (cause) {
        throw new MemoryStoreError(this.path, `line ${lineNumber} is not JSON (the file is damaged)`, DAMAGED_FIX, cause);
      }
      const item = parseMemoryItem(value);
      if (typeof item === 'string') throw new MemoryStoreError(this.path, `line ${lineNumber} is not a memory item: ${item}`, DAMAGED_FIX);
      items.push(item);
    }
    const broken = findIndexBreak(items);
    if (broken) throw new MemoryStoreError(this.path, `line ${broken.position + 2} ${broken.problem}`, DAMAGED_FIX);
    return items;
  }

  async append(item: MemoryItem): Promise<void> {
    const descriptor = this.descriptor;
    if (descriptor === undefined) throw new MemoryStoreError(this.path, 'is closed', 'open the memory again');
    if (this.failed) throw new MemoryStoreError(this.path, 'an earlier write failed part-way', 'reopen the memory; open() repairs a torn last line');
    if (item.index !== this.nextIndex) {
      throw new MemoryStoreError(this.path, `item ${item.index} appended out of order: the stream holds ${this.nextIndex} items`, 'append items in index order, from one writer at a time');
    }
    try {
      writeAll(this.path, descriptor, Buffer.from(`${JSON.stringify(item)}\n`));
    } catch (error) {
      this.failed = true;
      throw error;
    }
    this.nextIndex++;
  }

  async close(): Promise<void> {
    if (this.descriptor !== undefined) closeSync(this.descriptor);
    this.descriptor = undefined;
  }
}

/** Checks the first line is a tome memory stream header of this format version. */
function checkHeader(path: string, content: Buffer): void {
  const firstEnd = content.indexOf(NEWLINE);
  const firstLine = content.subarray(0, firstEnd === -1 ? content.length : firstEnd).toString('utf8');
  let header: unknown;
  try {
    header = JSON.parse(firstLine);
  } catch {
    header = undefined;
  }
  const fields = typeof header === 'object' && header !== null ? (header as { tome?: unknown; version?: unknown }) : {};
  if (fields.tome !== HEADER_TAG) {
    throw new MemoryStoreError(path, 'line 1 is not a tome memory stream header', 'pass a directory that holds a tome memory, or an empty or new one');
  }
  if (fields.version !== FORMAT_VERSION) {
    throw new MemoryStoreError(path, `line 1: format version ${JSON.stringify(fields.version)} is not supported (this tome reads version ${FORMAT_VERSION})`, 'open the memory with the tome version that wrote it');
  }
}

function countLines(content: Buffer): number {
  let lines = 0;
  for (let at = content.indexOf(NEWLINE); at !== -1; at = content.indexOf(NEWLINE, at + 1)) lines++;
  return lines;
}

/** The file's bytes, or `undefined` when it does not exist. */
function readStream(path: string): Buffer | undefined {
  try {
    return readFileSync(path);
  } catch (cause) {
    if ((cause as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new MemoryStoreError(path, `cannot be read (${(cause as NodeJS.ErrnoException).code ?? 'error'})`, 'check the path and its permissions', cause);
  }
}

function openFor(path: string, flags: 'w' | 'a'): number {
  return attempt(path, 'cannot be opened for writing', 'pass a memory directory you can write to', () => openSync(path, flags));
}

/** One write of the whole buffer (looping only if the OS takes less), then fsync: durable when this returns. */
function writeAll(path: string, descriptor: number, bytes: Buffer): void {
  attempt(path, 'cannot be written', 'check free disk space and permissions', () => {
    let written = 0;
    while (written < bytes.length) written += writeSync(descriptor, bytes, written);
    fsyncSync(descriptor);
  });
}

/** Makes a newly created file's directory entry durable; not every platform can fsync a directory. */
function syncDirectory(directory: string): void {
  try {
    const descriptor = openSync(directory, 'r');
    try {
      fsyncSync(descriptor);
    } finally {
      closeSync(descriptor);
    }
  } catch {
    // Best effort (e.g. Windows): the file's own fsync still holds its contents.
  }
}

function attempt<Value>(path: string, problem: string, fix: string, action: () => Value): Value {
  try {
    return action();
  } catch (cause) {
    throw new MemoryStoreError(path, `${problem} (${(cause as NodeJS.ErrnoException).code ?? String(cause)})`, fix, cause);
  }
}
