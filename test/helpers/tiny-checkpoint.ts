/**
 * The `tiny` fixture checkpoint (random weights, real Hugging Face layout) written once per test file into a
 * temporary directory, for tests that run the real engine. Writing it takes ~0.1 s; the directory is removed
 * after the file's tests.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll } from 'vitest';
import { writeFixture, type FixtureOptions } from '../../inference/fixture/index.js';

/** Fixture options besides the preset (always `tiny`). */
export type TinyCheckpointOptions = Omit<FixtureOptions, 'preset'>;

/** Write the tiny fixture into a fresh temporary directory; `remove` deletes it. */
export async function writeTinyCheckpoint(options: TinyCheckpointOptions = {}): Promise<{ directory: string; remove(): Promise<void> }> {
  const directory = await mkdtemp(join(tmpdir(), 'tome-tiny-'));
  await writeFixture(directory, { preset: 'tiny', ...options });
  return { directory, remove: () => rm(directory, { recursive: true, force: true }) };
}

/**
 * Register beforeAll/afterAll hooks (in the calling file or describe block) that write the tiny fixture and
 * remove it afterwards. Read `directory` inside tests or later hooks, not at registration time.
 */
export function useTinyCheckpoint(options: TinyCheckpointOptions = {}): { readonly directory: string } {
  let written: { directory: string; remove(): Promise<void> } | undefined;
  beforeAll(async () => {
    written = await writeTinyCheckpoint(options);
  });
  afterAll(async () => {
    await written?.remove();
  });
  return {
    get directory(): string {
      if (!written) throw new Error('the tiny checkpoint is written in beforeAll: read its directory inside a test or hook');
      return written.directory;
    },
  };
}
