import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { HashedEmbeddings } from '../src/embeddings/hashed-embeddings.js';
import { LogMemoryStore } from '../src/memory/log-memory-store.js';
import { MemoryStream } from '../src/memory/memory-stream.js';
import { writerText } from './fixtures/memory-writer.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const WRITER = join(ROOT, 'test/fixtures/memory-writer.ts');

let directory: string;
beforeEach(() => {
  directory = mkdtempSync(join(tmpdir(), 'tome-memory-crash-'));
});
afterEach(() => rmSync(directory, { recursive: true, force: true }));

/**
 * Runs the writer until it has printed at least `lines` commits, SIGKILLs it (no chance to flush or close), and
 * returns every index it reported committed, including lines already in the pipe when it died.
 */
async function runAndKill(lines: number): Promise<number[]> {
  const child = spawn(process.execPath, ['--conditions=source', '--import', 'tsx', WRITER, directory], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  const committed: number[] = [];
  let pending = '';
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  child.stdout.on('data', (chunk: Buffer) => {
    pending += chunk.toString();
    const complete = pending.split('\n');
    pending = complete.pop()!;
    for (const line of complete) {
      const match = /^committed (\d+)$/.exec(line);
      if (!match) throw new Error(`unexpected writer output: ${line}`);
      committed.push(Number(match[1]));
    }
    if (committed.length >= lines && child.exitCode === null && !child.killed) child.kill('SIGKILL');
  });
  const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve) => child.on('close', (exitCode, exitSignal) => resolve([exitCode, exitSignal])));
  expect({ code, signal, stderr }).toEqual({ code: null, signal: 'SIGKILL', stderr: '' });
  return committed;
}

async function reopen(): Promise<MemoryStream> {
  return MemoryStream.open({ store: await LogMemoryStore.open(directory), embeddings: new HashedEmbeddings(), indexPath: join(directory, 'index.hnsw') });
}

async function expectRecovered(committed: readonly number[]): Promise<MemoryStream> {
  const last = committed.at(-1)!;
  expect(committed).toEqual(Array.from({ length: committed.length }, (_, position) => position));
  const stream = await reopen();
  expect(stream.size).toBeGreaterThanOrEqual(last + 1);
  for (const index of committed) expect(stream.get(index)?.text).toBe(writerText(index));
  // The index agrees with the stream: it covers every item, and each sampled item is its own best match.
  expect(stream.indexState.count).toBe(stream.size);
  const step = Math.max(1, Math.floor(stream.size / 25));
  for (let index = 0; index < stream.size; index += step) {
    const [best] = await stream.retrieve(stream.get(index)!.text, { k: 3 });
    expect(best?.item.index, `item ${index}`).toBe(index);
  }
  const [newest] = await stream.retrieve(stream.get(stream.size - 1)!.text, { k: 1 });
  expect(newest?.item.index).toBe(stream.size - 1);
  return stream;
}

describe('memory crash recovery', () => {
  it('keeps every committed item when the writer is killed early (before any index flush)', async () => {
    const committed = await runAndKill(30);
    expect(committed.length).toBeGreaterThanOrEqual(30);
    const stream = await expectRecovered(committed);
    // Writing continues where the stream ends.
    const next = await stream.add({ kind: 'turn', text: writerText(stream.size), summary: 'after the crash' });
    expect(next.index).toBe(stream.size - 1);
    await stream.close();
    const again = await reopen();
    expect(again.indexState).toMatchObject({ rebuilt: false, extended: 0, count: again.size });
    await again.close();
  }, 60_000);

  it('repairs the index tail from the stream when the writer is killed after index flushes', async () => {
    const committed = await runAndKill(250);
    expect(existsSync(join(directory, 'index.hnsw'))).toBe(true);
    const stream = await expectRecovered(committed);
    // The index is flushed every 100 adds, so the saved file covered a multiple of 100 items and open() added the
    // rest from the stream; or the kill tore a flush and the index was rebuilt.
    const state = stream.indexState;
    if (!state.rebuilt) {
      expect((stream.size - state.extended) % 100).toBe(0);
      expect(stream.size - state.extended).toBeGreaterThanOrEqual(100);
    }
    await stream.close();
  }, 60_000);
});
