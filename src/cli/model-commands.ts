import { resolve } from 'node:path';
import { InvalidArgumentError, type Command } from 'commander';
import { InvalidOptionError } from '../errors.js';
import { FIXTURE_PRESET_NAMES, isFixturePresetName, writeFixture, type FixturePresetName } from '../../inference/fixture/index.js';
import type { SafetensorsDtype } from '../../inference/checkpoint/types.js';

const DTYPES: readonly SafetensorsDtype[] = ['F32', 'F16', 'BF16'];

interface FixtureCommandOptions {
  maxPositionEmbeddings?: number;
  preset: FixturePresetName;
  seed: number;
  dtype?: SafetensorsDtype;
  json?: boolean;
}

function parsePreset(value: string): FixturePresetName {
  if (!isFixturePresetName(value)) throw new InvalidArgumentError(`expected one of ${FIXTURE_PRESET_NAMES.join(', ')}.`);
  return value;
}

function parseDtype(value: string): SafetensorsDtype {
  const upper = value.toUpperCase();
  if (!(DTYPES as readonly string[]).includes(upper)) throw new InvalidArgumentError(`expected one of ${DTYPES.join(', ')}.`);
  return upper as SafetensorsDtype;
}

function parseSeed(value: string): number {
  const parsed = Number(value);
  if (!Number.isSafeInteger(parsed) || parsed < 0) throw new InvalidArgumentError('expected a whole number ≥ 0.');
  return parsed;
}

/** `tome model fixture`: write a random-weight checkpoint and summarize it on stdout. */
function parsePositions(value: string): number {
  const parsed = Number(value);
  if (!Number.isInteger(parsed) || parsed < 16) throw new InvalidArgumentError('expected a whole number of at least 16.');
  return parsed;
}

async function fixture(directory: string, options: FixtureCommandOptions): Promise<void> {
  const started = performance.now();
  let result: Awaited<ReturnType<typeof writeFixture>>;
  try {
    result = await writeFixture(resolve(directory), { preset: options.preset, seed: options.seed, dtype: options.dtype, ...(options.maxPositionEmbeddings ? { maxPositionEmbeddings: options.maxPositionEmbeddings } : {}) });
  } catch (error) {
    // A file-system failure (no permission, a file where the directory should be, a full disk) is the user's to fix.
    if (error instanceof Error && typeof (error as NodeJS.ErrnoException).code === 'string') {
      throw new InvalidOptionError('<dir>', directory, `a directory tome can create and write (${error.message})`);
    }
    throw error;
  }
  const seconds = Math.round((performance.now() - started) / 10) / 100;
  const summary = { directory: result.directory, preset: options.preset, parameterCount: result.parameterCount, bytesWritten: result.bytesWritten, seconds };
  process.stdout.write(
    options.json
      ? `${JSON.stringify(summary)}\n`
      : `tome: wrote ${options.preset} fixture (seed ${options.seed}, ${result.parameterCount.toLocaleString('en-US')} parameters, ${formatBytes(result.bytesWritten)}) to ${result.directory} in ${seconds} s\n`,
  );
}

function formatBytes(bytes: number): string {
  if (bytes >= 1024 ** 3) return `${(bytes / 1024 ** 3).toFixed(2)} GiB`;
  if (bytes >= 1024 ** 2) return `${(bytes / 1024 ** 2).toFixed(1)} MiB`;
  return `${(bytes / 1024).toFixed(1)} KiB`;
}

/** Add the local-model commands: `tome model fixture`. */
export function addModelCommands(program: Command): void {
  const model = program.command('model').description('local model checkpoints');
  model
    .command('fixture')
    .description('write a deterministic random-weight checkpoint in the Hugging Face layout (for tests and benchmarks)')
    .argument('<dir>', 'directory to write (created if missing)')
    .option('--preset <name>', `model shape: ${FIXTURE_PRESET_NAMES.join(', ')}`, parsePreset, 'tiny' as FixturePresetName)
    .option('--seed <n>', 'PRNG seed: the same seed writes byte-identical files', parseSeed, 0)
    .option('--dtype <dtype>', `weight dtype, ${DTYPES.join('|')} (default: the preset's)`, parseDtype)
    .option('--max-position-embeddings <n>', "the trained context length written to config.json (default: the preset's)", parsePositions)
    .option('--json', 'print one JSON object instead of text')
    .action(fixture);
}
