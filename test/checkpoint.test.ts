import { appendFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FileCheckpoint, NoCheckpoint, type Checkpoint } from '../src/checkpoint.js';
import { TomeError, type TomeErrorCode } from '../src/errors.js';

const RUN = { pipeline: 'summarize', model: 'extractive', chunkTokens: 2048, document: 'abc123' };

let directory: string;
let path: string;
const opened: FileCheckpoint[] = [];

beforeEach(() => {
  directory = mkdtempSync(join(tmpdir(), 'tome-'));
  path = join(directory, 'run.checkpoint');
});
afterEach(() => {
  for (const checkpoint of opened.splice(0)) checkpoint.close();
  rmSync(directory, { recursive: true, force: true });
});

/** Open a checkpoint that the test will close (closing twice is harmless). */
function open(run: unknown = RUN, at = path): FileCheckpoint {
  const checkpoint = FileCheckpoint.open(at, run);
  opened.push(checkpoint);
  return checkpoint;
}

function expectCheckpointError(action: () => unknown, code: TomeErrorCode, file: string): void {
  let thrown: unknown;
  try {
    action();
  } catch (error) {
    thrown = error;
  }
  expect(TomeError.is(thrown)).toBe(true);
  expect((thrown as TomeError).code).toBe(code);
  expect((thrown as TomeError).message).toContain(file);
  expect((thrown as TomeError).fix.length).toBeGreaterThan(0);
}

describe('FileCheckpoint', () => {
  it('starts fresh when the file does not exist', () => {
    const checkpoint = open();
    expect(checkpoint.size).toBe(0);
    expect(checkpoint.get('anything')).toBeUndefined();
    expect(checkpoint.path).toBe(path);
  });

  it('keeps values across close and reopen', () => {
    const values: Record<string, unknown> = {
      'leaf:0': 'summary of the first chunk',
      'leaf:1': { text: 'line one\nline two', tokens: 12, tags: ['a', 'b'] },
      'leaf:2': ['🐋', 'café', null, 3.5],
      'score:7': 0,
      empty: '',
      flag: false,
    };
    const writer = open();
    for (const [key, value] of Object.entries(values)) writer.put(key, value);
    expect(writer.get('leaf:1')).toEqual(values['leaf:1']);
    writer.close();

    const reader = open();
    expect(reader.size).toBe(Object.keys(values).length);
    for (const [key, value] of Object.entries(values)) expect(reader.get(key)).toEqual(value);
    expect(reader.get('missing')).toBeUndefined();
  });

  it('keeps the last value put for a key', () => {
    const writer = open();
    writer.put('leaf:0', 'first');
    writer.put('leaf:0', 'second');
    expect(writer.size).toBe(1);
    writer.close();
    const reader = open();
    expect(reader.get('leaf:0')).toBe('second');
    expect(reader.size).toBe(1);
  });

  it('adds to the values of an earlier session', () => {
    const first = open();
    first.put('a', 1);
    first.close();
    const second = open();
    second.put('b', 2);
    second.close();
    const third = open();
    expect(third.get('a')).toBe(1);
    expect(third.get('b')).toBe(2);
    expect(third.size).toBe(2);
  });

  it('rejects a file written for another run with CHECKPOINT_MISMATCH naming the file', () => {
    const writer = open();
    writer.put('leaf:0', 'done');
    writer.close();
    expectCheckpointError(() => FileCheckpoint.open(path, { ...RUN, chunkTokens: 1024 }), 'CHECKPOINT_MISMATCH', path);
    // The file was not touched: the original run still resumes.
    expect(open().get('leaf:0')).toBe('done');
  });

  it('rejects a file that is not a checkpoint with CHECKPOINT_UNREADABLE', () => {
    writeFileSync(path, 'Call me Ishmael. Some years ago...\n');
    expectCheckpointError(() => FileCheckpoint.open(path, RUN), 'CHECKPOINT_UNREADABLE', path);
    expect(readFileSync(path, 'utf8')).toBe('Call me Ishmael. Some years ago...\n');
  });

  it('rejects JSON that is not a checkpoint header with CHECKPOINT_UNREADABLE', () => {
    writeFileSync(path, `${JSON.stringify({ name: 'tome', version: 1 })}\n`);
    expectCheckpointError(() => FileCheckpoint.open(path, RUN), 'CHECKPOINT_UNREADABLE', path);
  });

  it('ignores a torn last line, and later records still read back', () => {
    const writer = open();
    writer.put('leaf:0', 'kept');
    writer.close();
    appendFileSync(path, '{"key":"leaf:1","value":"half wri');

    const resumed = open();
    expect(resumed.get('leaf:0')).toBe('kept');
    expect(resumed.get('leaf:1')).toBeUndefined();
    expect(resumed.size).toBe(1);
    resumed.put('leaf:1', 'rewritten');
    resumed.put('leaf:2', { ok: true });
    resumed.close();

    const reader = open();
    expect(reader.get('leaf:0')).toBe('kept');
    expect(reader.get('leaf:1')).toBe('rewritten');
    expect(reader.get('leaf:2')).toEqual({ ok: true });
    expect(reader.size).toBe(3);
  });

  it('starts fresh on an existing empty (or blank) file', () => {
    writeFileSync(path, '');
    const checkpoint = open();
    expect(checkpoint.size).toBe(0);
    checkpoint.put('a', 1);
    checkpoint.close();
    expect(open().get('a')).toBe(1);

    const blank = join(directory, 'blank.checkpoint');
    writeFileSync(blank, '\n\n  \n');
    const fromBlank = open(RUN, blank);
    fromBlank.put('b', 2);
    fromBlank.close();
    expect(open(RUN, blank).get('b')).toBe(2);
  });

  it('throws CHECKPOINT_UNREADABLE for a path it cannot write', () => {
    const unwritable = join(directory, 'no-such-directory', 'run.checkpoint');
    expectCheckpointError(() => FileCheckpoint.open(unwritable, RUN), 'CHECKPOINT_UNREADABLE', unwritable);
  });

  it('throws CHECKPOINT_UNREADABLE when the path is a directory', () => {
    expectCheckpointError(() => FileCheckpoint.open(directory, RUN), 'CHECKPOINT_UNREADABLE', directory);
  });

  it('refuses to record after close', () => {
    const checkpoint = open();
    checkpoint.close();
    expectCheckpointError(() => checkpoint.put('late', 1), 'CHECKPOINT_UNREADABLE', path);
  });
});

describe('NoCheckpoint', () => {
  it('remembers nothing', () => {
    const checkpoint: Checkpoint = new NoCheckpoint();
    checkpoint.put('leaf:0', 'value');
    expect(checkpoint.get('leaf:0')).toBeUndefined();
    expect(checkpoint.size).toBe(0);
    expect(() => checkpoint.close()).not.toThrow();
  });
});

describe('review findings', () => {
  it('a header torn by a crash starts a fresh checkpoint', () => {
    const directory = mkdtempSync(join(tmpdir(), 'tome-torn-'));
    const path = join(directory, 'run.checkpoint');
    writeFileSync(path, '{"tome":"checkpoint","ver');
    const checkpoint = FileCheckpoint.open(path, { run: 1 });
    checkpoint.put('a', 1);
    checkpoint.close();
    expect(FileCheckpoint.open(path, { run: 1 }).get('a')).toBe(1);
    rmSync(directory, { recursive: true, force: true });
  });

  it('a step that returned undefined is still done after reopening', () => {
    const directory = mkdtempSync(join(tmpdir(), 'tome-void-'));
    const path = join(directory, 'run.checkpoint');
    const checkpoint = FileCheckpoint.open(path, { run: 1 });
    checkpoint.put('void', undefined);
    checkpoint.close();
    const reopened = FileCheckpoint.open(path, { run: 1 });
    expect(reopened.get('void')).toBeNull();
    expect(reopened.size).toBe(1);
    rmSync(directory, { recursive: true, force: true });
  });
});
