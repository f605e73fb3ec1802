import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { Worker } from 'node:worker_threads';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LocalEngine } from '../../inference/engine/engine-contract.js';
import { OnnxEngine } from '../../inference/engine/onnx-engine.js';
import { openLocalEngine } from '../../inference/engine/open-engine.js';
import { WorkerEngine } from '../../inference/engine/worker-engine.js';
import { AbortedError, TomeError } from '../../src/errors.js';
import { useTinyCheckpoint, writeTinyCheckpoint } from '../helpers/tiny-checkpoint.js';

/**
 * The engine in a worker thread (openLocalEngine with thread: 'worker'): the same results as in this thread, text
 * streamed while it decodes, a main event loop that stays free, aborts through shared memory, typed errors across
 * the thread boundary, and a worker that neither outlives dispose nor keeps an idle process alive.
 */
const PROMPT = 'The river runs';
const repositoryRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

const checkpoint = useTinyCheckpoint({ seed: 0 });
let engine: LocalEngine;
let inThread: OnnxEngine;

beforeAll(async () => {
  engine = await openLocalEngine(checkpoint.directory, { thread: 'worker', threads: 1 });
  inThread = await OnnxEngine.open(checkpoint.directory, { threads: 1 });
}, 30_000);

afterAll(async () => {
  await engine?.dispose();
  await inThread?.dispose();
});

const caught = (promise: Promise<unknown>) => promise.then(
  (value) => ({ resolvedWith: value }),
  (error: unknown) => error,
);
const codeOf = (error: unknown) => (TomeError.is(error) ? error.code : `not a TomeError: ${String(error)}`);

describe('WorkerEngine results', () => {
  it('is a WorkerEngine with the checkpoint info', () => {
    expect(engine).toBeInstanceOf(WorkerEngine);
    expect(engine.info).toMatchObject({ ...inThread.info, model: checkpoint.directory });
  });

  it('greedy tokens and text equal the in-thread engine', async () => {
    for (const prompt of [PROMPT, 'A lake sits past the old town']) {
      const inWorker = await engine.generate({ prompt, maxTokens: 20 });
      const here = await inThread.generate({ prompt, maxTokens: 20 });
      expect(inWorker.tokenIds).toEqual(here.tokenIds);
      expect(inWorker.text).toBe(here.text);
      expect(inWorker.finishReason).toBe(here.finishReason);
      expect(inWorker.promptTokens).toBe(here.promptTokens);
    }
  });

  it('score, embed, countTokens and formatChat equal the in-thread engine', async () => {
    const scoreHere = await inThread.score(PROMPT, ' past the old town');
    const scoreThere = await engine.score(PROMPT, ' past the old town');
    expect(scoreThere.tokenIds).toEqual(scoreHere.tokenIds);
    scoreThere.logProbs.forEach((value, index) => expect(value).toBeCloseTo(scoreHere.logProbs[index]!, 5));
    const [vectorThere] = await engine.embed([PROMPT]);
    const [vectorHere] = await inThread.embed([PROMPT]);
    vectorThere!.forEach((value, index) => expect(value).toBeCloseTo(vectorHere![index]!, 5));
    expect(await engine.countTokens(PROMPT)).toBe(await inThread.countTokens(PROMPT));
    const messages = [{ role: 'user' as const, content: 'Hello there.' }];
    expect(await engine.formatChat(messages)).toBe(await inThread.formatChat(messages));
  });

  it('streams deltas while decoding, well before the result resolves', async () => {
    const started = performance.now();
    const arrivals: number[] = [];
    const deltas: string[] = [];
    let settled = false;
    let deltasBeforeSettling = 0;
    const result = await engine
      .generate({
        prompt: PROMPT,
        maxTokens: 400,
        onText: (delta) => {
          arrivals.push(performance.now() - started);
          deltas.push(delta);
          if (!settled) deltasBeforeSettling++;
        },
      })
      .finally(() => (settled = true));
    const total = performance.now() - started;
    expect(deltas.join('')).toBe(result.text);
    expect(deltasBeforeSettling).toBe(deltas.length);
    expect(deltas.length).toBeGreaterThan(10);
    // Not buffered until the end: the first piece arrives in the first half of the generation.
    expect(arrivals[0]!).toBeLessThan(total / 2);
  });
});

describe('WorkerEngine keeps the main thread free', () => {
  // A long prompt prefilled in one chunk: in this thread, one attention graph run over ~5800 queries × ~5800 keys
  // blocks the event loop for well over 100 ms (ONNX Runtime's run is synchronous); in the worker it must not.
  let long: LocalEngine;
  let remove: () => Promise<void>;
  beforeAll(async () => {
    const written = await writeTinyCheckpoint({ seed: 0, maxPositionEmbeddings: 6144 });
    remove = written.remove;
    long = await openLocalEngine(written.directory, { thread: 'worker', threads: 1, prefillChunkSize: 6144 });
  }, 30_000);
  afterAll(async () => {
    await long?.dispose();
    await remove?.();
  });

  it('a 5 ms interval keeps firing during a long prefill and decode (≥ 200 ms)', async () => {
    const prompt = 'the river runs '.repeat(820);
    expect(await long.countTokens(prompt)).toBeGreaterThan(5000);
    let ticks = 0;
    let last = performance.now();
    let maxGap = 0;
    const interval = setInterval(() => {
      const now = performance.now();
      maxGap = Math.max(maxGap, now - last);
      last = now;
      ticks++;
    }, 5);
    const started = performance.now();
    try {
      const result = await long.generate({ prompt, maxTokens: 100 });
      const elapsed = performance.now() - started;
      maxGap = Math.max(maxGap, performance.now() - last);
      expect(elapsed, `generation too short to tell (${result.completionTokens} tokens)`).toBeGreaterThanOrEqual(200);
      expect(maxGap).toBeLessThan(100);
      expect(ticks).toBeGreaterThan(elapsed / 100);
    } finally {
      clearInterval(interval);
    }
  });
});

describe('WorkerEngine abort', () => {
  it('a signal aborted mid-generation stops the worker early, with finishReason aborted', async () => {
    const controller = new AbortController();
    let abortedAt = 0;
    let firstDeltaAt = 0;
    const result = await engine.generate({
      prompt: PROMPT,
      maxTokens: 2000,
      signal: controller.signal,
      onText: () => {
        if (firstDeltaAt !== 0) return;
        firstDeltaAt = performance.now();
        // Abort from a timer once decoding is under way.
        setTimeout(() => {
          abortedAt = performance.now();
          controller.abort();
        }, 30);
      },
    });
    expect(abortedAt, 'the generation ended before the abort').toBeGreaterThan(0);
    expect(result.finishReason).toBe('aborted');
    expect(result.completionTokens).toBeGreaterThan(0);
    expect(result.completionTokens).toBeLessThan(2000);
    expect(performance.now() - abortedAt).toBeLessThan(500);
    // The worker is free and intact afterwards.
    const next = await engine.generate({ prompt: PROMPT, maxTokens: 12 });
    expect(next.tokenIds).toEqual((await inThread.generate({ prompt: PROMPT, maxTokens: 12 })).tokenIds);
  });

  it('an already-aborted signal rejects with AbortedError; so does a call aborted while queued', async () => {
    const aborted = AbortSignal.abort();
    expect(await caught(engine.generate({ prompt: PROMPT, signal: aborted }))).toBeInstanceOf(AbortedError);
    expect(await caught(engine.score(PROMPT, ' x', { signal: aborted }))).toBeInstanceOf(AbortedError);
    expect(await caught(engine.embed([PROMPT], { signal: aborted }))).toBeInstanceOf(AbortedError);

    const controller = new AbortController();
    const running = engine.generate({ prompt: PROMPT, maxTokens: 200 });
    const queued = engine.generate({ prompt: PROMPT, maxTokens: 200, signal: controller.signal });
    controller.abort();
    const queuedOutcome = await caught(queued);
    expect((await running).completionTokens).toBe(200);
    // Aborted before it started: either refused (AbortedError) or finished at once with nothing generated.
    if (queuedOutcome instanceof Error) expect(codeOf(queuedOutcome)).toBe('ABORTED');
    else expect((queuedOutcome as { resolvedWith: { finishReason: string; completionTokens: number } }).resolvedWith).toMatchObject({ finishReason: 'aborted', completionTokens: 0 });
  });
});

describe('WorkerEngine errors across the thread boundary', () => {
  it('a directory without config.json rejects with ModelLoadError MODEL_FILE_MISSING', async () => {
    const empty = await mkdtemp(join(tmpdir(), 'tome-empty-checkpoint-'));
    try {
      const error = await caught(openLocalEngine(empty, { thread: 'worker' }));
      expect(codeOf(error)).toBe('MODEL_FILE_MISSING');
      expect((error as Error).name).toBe('ModelLoadError');
      expect((error as Error).message).toContain('config.json');
      expect((error as TomeError).fix.length).toBeGreaterThan(0);
    } finally {
      await rm(empty, { recursive: true, force: true });
    }
  });

  it('errors inside a call keep their code and name, and the engine keeps working', async () => {
    const invalid = await caught(engine.generate({ prompt: PROMPT, temperature: -1 }));
    expect(codeOf(invalid)).toBe('INVALID_OPTION');
    expect((invalid as Error).name).toBe('InvalidOptionError');
    expect((invalid as Error).message).toContain('temperature');
    expect(codeOf(await caught(engine.generate({ prompt: PROMPT, promptTokenIds: [1] })))).toBe('INVALID_OPTION');
    const longPrompt = 'word '.repeat(3000);
    expect(codeOf(await caught(engine.generate({ prompt: longPrompt, maxTokens: 1 })))).toBe('PROMPT_OVERFLOW');
    // A plain (non-tome) error keeps its name and message.
    const outOfVocabulary = await caught(engine.generate({ promptTokenIds: [1, 100_000], maxTokens: 1 }));
    expect((outOfVocabulary as Error).name).toBe('RangeError');
    expect((outOfVocabulary as Error).message).toContain('100000');
    expect((await engine.generate({ prompt: PROMPT, maxTokens: 3 })).completionTokens).toBe(3);
  });
});

describe('WorkerEngine dispose', () => {
  it('lets a call in flight finish, ends the worker, and refuses later calls', async () => {
    const disposable = await openLocalEngine(checkpoint.directory, { thread: 'worker', threads: 1 });
    const worker = (disposable as unknown as { worker: Worker }).worker;
    const exited = new Promise<number>((resolveExit) => worker.once('exit', resolveExit));
    const inFlight = disposable.generate({ prompt: PROMPT, maxTokens: 50 });
    const disposed = disposable.dispose();
    expect((await inFlight).completionTokens).toBe(50);
    await disposed;
    expect(await exited).toBe(0);
    for (const call of [() => disposable.generate({ prompt: PROMPT, maxTokens: 2 }), () => disposable.embed([PROMPT]), () => disposable.countTokens(PROMPT)]) {
      expect(codeOf(await caught(call()))).toBe('ENGINE_FAILED');
    }
    await disposable.dispose(); // a second dispose is a no-op
  });

  describe('in a child process (nothing else keeps it alive)', () => {
    let scripts: string;
    beforeAll(async () => {
      scripts = await mkdtemp(join(tmpdir(), 'tome-worker-exit-'));
    });
    afterAll(async () => {
      await rm(scripts, { recursive: true, force: true });
    });

    /** Run a module body (with `openLocalEngine` and `directory` in scope) in a fresh Node process. */
    async function runChild(name: string, body: string): Promise<{ code: number | null; stdout: string; stderr: string; ms: number }> {
      const script = join(scripts, `${name}.mts`);
      const openEngineUrl = pathToFileURL(join(repositoryRoot, 'inference/engine/open-engine.ts')).href;
      await writeFile(script, `import { openLocalEngine } from ${JSON.stringify(openEngineUrl)};\nconst directory = ${JSON.stringify(checkpoint.directory)};\n${body}\n`);
      const started = performance.now();
      return new Promise((resolveRun, rejectRun) => {
        const child = spawn(process.execPath, ['--import', 'tsx', '--conditions=source', script], { cwd: repositoryRoot, stdio: ['ignore', 'pipe', 'pipe'] });
        let stdout = '';
        let stderr = '';
        child.stdout.on('data', (data: Buffer) => (stdout += data.toString()));
        child.stderr.on('data', (data: Buffer) => (stderr += data.toString()));
        const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
        child.on('error', rejectRun);
        child.on('exit', (code) => {
          clearTimeout(timer);
          resolveRun({ code, stdout, stderr, ms: performance.now() - started });
        });
      });
    }

    it('an idle engine that is never disposed does not keep the process alive', { timeout: 30_000 }, async () => {
      const run = await runChild(
        'idle',
        `const engine = await openLocalEngine(directory, { thread: 'worker', threads: 1 });
const result = await engine.generate({ prompt: 'The river runs', maxTokens: 5 });
console.log('generated', result.completionTokens);`,
      );
      expect(run.stdout, run.stderr).toContain('generated 5');
      // Killed after 20 s (code null) would mean the idle worker kept the process alive.
      expect(run.code, run.stderr).toBe(0);
    });

    it('dispose during a call resolves, and the process then exits', { timeout: 30_000 }, async () => {
      const run = await runChild(
        'dispose-during-call',
        `const engine = await openLocalEngine(directory, { thread: 'worker', threads: 1 });
const generation = engine.generate({ prompt: 'The river runs', maxTokens: 50 });
const disposed = engine.dispose();
console.log('generated', (await generation).completionTokens);
await disposed;
console.log('disposed');`,
      );
      expect(run.stdout, run.stderr).toContain('generated 50');
      // Exit code 13 (unsettled top-level await) would mean dispose never resolved.
      expect(run.stdout, run.stderr).toContain('disposed');
      expect(run.code, run.stderr).toBe(0);
    });
  });
});
