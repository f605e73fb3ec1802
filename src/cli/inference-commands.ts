import { mkdir } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { InvalidArgumentError, Option, type Command } from 'commander';
import { InvalidOptionError } from '../errors.js';
import { loadDocument } from '../documents.js';
import { EXIT_INTERRUPTED } from './report-error.js';

/**
 * `tome generate` and `tome bench inference`: the local engine from the command line. tome/inference (and with
 * it onnxruntime-node) is imported only when one of these runs, so other commands start as fast as before.
 */

interface GenerateCommandOptions {
  model: string;
  prompt?: string;
  promptFile?: string;
  maxTokens: number;
  temperature: number;
  topK?: number;
  topP?: number;
  seed: number;
  stop: string[];
  chat?: boolean;
  threads: number;
  quantize?: 'int4' | 'int8';
  json?: boolean;
}

interface BenchCommandOptions {
  model?: string;
  preset: string;
  threads: number;
  chunk: number;
  decodeTokens: number;
  quantize?: 'int4' | 'int8';
  json?: boolean;
}

/** `--quantize int4|int8` → MatMulNBits weight quantization at load (block 32, accuracy_level 4). */
const quantization = (choice: 'int4' | 'int8' | undefined) => (choice ? { quantization: { bits: choice === 'int4' ? (4 as const) : (8 as const) } } : {});

type Parsers = {
  wholeNumber: (minimum: number) => (value: string) => number;
  collect: (value: string, previous: string[]) => string[];
};

function number(minimum: number, maximum = Infinity) {
  return (value: string): number => {
    const parsed = Number(value);
    if (!Number.isFinite(parsed) || parsed < minimum || parsed > maximum) throw new InvalidArgumentError(`expected a number in [${minimum}, ${maximum}].`);
    return parsed;
  };
}

/** `onnx:<dir | owner/repo>` → what follows the prefix. */
function localModel(spec: string): string {
  if (!spec.startsWith('onnx:') || spec.length === 'onnx:'.length) {
    throw new InvalidOptionError('--model', spec, 'onnx:<checkpoint directory or hub repo id>, e.g. onnx:./fixtures/tiny or onnx:HuggingFaceTB/SmolLM2-135M-Instruct');
  }
  return spec.slice('onnx:'.length);
}

async function generate(options: GenerateCommandOptions): Promise<void> {
  if ((options.prompt === undefined) === (options.promptFile === undefined)) {
    throw new InvalidOptionError('--prompt', options.prompt ?? null, 'exactly one of --prompt TEXT or --prompt-file FILE');
  }
  const promptText = options.prompt ?? (await loadDocument(options.promptFile!)).text;
  const { openLocalEngine } = await import('../../inference/index.js');
  const engine = await openLocalEngine(localModel(options.model), { threads: options.threads, ...quantization(options.quantize) });
  const controller = new AbortController();
  const onInterrupt = () => controller.abort();
  process.once('SIGINT', onInterrupt);
  try {
    const prompt = options.chat ? await engine.formatChat([{ role: 'user', content: promptText }]) : promptText;
    const streaming = !options.json;
    const result = await engine.generate({
      prompt,
      maxTokens: options.maxTokens,
      temperature: options.temperature,
      topK: options.topK,
      topP: options.topP,
      seed: options.seed,
      stop: options.stop,
      signal: controller.signal,
      ...(streaming ? { onText: (delta: string) => process.stdout.write(delta) } : {}),
    });
    if (options.json) {
      const { text, completionTokens: tokens, promptTokens, prefillMs, decodeMs, finishReason } = result;
      process.stdout.write(`${JSON.stringify({ text, tokens, promptTokens, prefillMs: round(prefillMs), decodeMs: round(decodeMs), finishReason })}\n`);
    } else {
      process.stdout.write('\n');
      const decodeRate = result.completionTokens / Math.max(result.decodeMs / 1000, 1e-9);
      const prefillRate = result.promptTokens / Math.max(result.prefillMs / 1000, 1e-9);
      process.stderr.write(`tome: ${result.completionTokens} tokens (${result.finishReason}); prefill ${result.promptTokens} tokens in ${round(result.prefillMs)} ms (${round(prefillRate)} tok/s), decode ${round(decodeRate)} tok/s\n`);
    }
    if (result.finishReason === 'aborted') process.exitCode = EXIT_INTERRUPTED;
  } finally {
    process.off('SIGINT', onInterrupt);
    await engine.dispose();
  }
}

async function benchInference(options: BenchCommandOptions): Promise<void> {
  const inference = await import('../../inference/index.js');
  let directory: string;
  if (options.model) directory = await inference.resolveCheckpointDirectory(localModel(options.model));
  else {
    if (!inference.isFixturePresetName(options.preset)) throw new InvalidOptionError('--preset', options.preset, inference.FIXTURE_PRESET_NAMES.join(' | '));
    // Generated once per machine: a deterministic random-weight checkpoint of the preset's real shape.
    directory = join(tmpdir(), 'tome-fixtures', `${options.preset}-seed0`);
    if (!existsSync(join(directory, 'config.json'))) {
      await mkdir(directory, { recursive: true });
      process.stderr.write(`tome: writing the ${options.preset} fixture to ${directory} (once)\n`);
      await inference.writeFixture(directory, { preset: options.preset });
    }
  }
  const result = await inference.benchmarkInference(directory, { threads: options.threads, prefillChunkSize: options.chunk, decodeTokens: options.decodeTokens, ...quantization(options.quantize) });
  if (options.json) {
    process.stdout.write(`${JSON.stringify(result)}\n`);
    return;
  }
  const percent = (share: number) => `${Math.round(share * 100)}%`;
  process.stdout.write(
    [
      `model ${result.model} (${(result.nonEmbeddingParameters / 1e6).toFixed(1)}M non-embedding parameters), ${result.weights} weights, ${result.threads} threads`,
      `prefill ${result.prefillTokPerS} tok/s  = ${percent(result.prefillShareOfRoof)} of roof ${result.prefillRoofTokPerS} tok/s (MatMul ${result.matmulGflops} GFLOP/s)`,
      `decode  ${result.decodeTokPerS} tok/s  = ${percent(result.decodeShareOfRoof)} of roof ${result.decodeRoofTokPerS} tok/s (bandwidth ${result.bandwidthGBps} GB/s)`,
    ].join('\n') + '\n',
  );
}

const round = (value: number) => Math.round(value * 10) / 10;

/** Add `tome generate` and `tome bench inference`. */
export function addInferenceCommands(program: Command, parsers: Parsers): void {
  program
    .command('generate')
    .description('generate text with a local model (raw prompt; --chat applies the chat template)')
    .requiredOption('--model <spec>', 'onnx:<checkpoint dir or hub repo id>')
    .option('--prompt <text>', 'the prompt')
    .option('--prompt-file <file>', 'read the prompt from a UTF-8 file')
    .option('--max-tokens <n>', 'most new tokens (default 256)', parsers.wholeNumber(1), 256)
    .option('--temperature <t>', '0 = greedy (default)', number(0, 100), 0)
    .option('--top-k <k>', 'sample among the k most likely tokens', parsers.wholeNumber(1))
    .option('--top-p <p>', 'nucleus sampling threshold in (0, 1]', number(Number.MIN_VALUE, 1))
    .option('--seed <n>', 'sampling seed (default 0)', parsers.wholeNumber(0), 0)
    .option('--stop <text>', 'stop before this text, repeatable', parsers.collect, [])
    .option('--chat', "wrap the prompt as a user message in the model's chat template")
    .option('--threads <n>', 'ONNX Runtime threads (default 2)', parsers.wholeNumber(1), 2)
    .addOption(new Option('--quantize <kind>', 'quantize weights at load: int4 (~2× faster decode) or int8').choices(['int4', 'int8']))
    .option('--json', 'print {text, tokens, promptTokens, prefillMs, decodeMs, finishReason}')
    .action(generate);

  program
    .command('bench')
    .description('benchmarks')
    .command('inference')
    .description('prefill and decode tokens/s of a local model against the machine roofs measured in the same run')
    .option('--model <spec>', 'onnx:<checkpoint dir or hub repo id> (default: a generated fixture of --preset)')
    .addOption(new Option('--preset <name>', 'fixture shape when no --model is given').default('smollm2-135m'))
    .option('--threads <n>', 'ONNX Runtime threads', parsers.wholeNumber(1), 2)
    .option('--chunk <tokens>', 'prefill chunk size', parsers.wholeNumber(1), 512)
    .option('--decode-tokens <n>', 'tokens decoded per measurement', parsers.wholeNumber(1), 64)
    .addOption(new Option('--quantize <kind>', 'measure with int4 or int8 weights (roofs stay fp32)').choices(['int4', 'int8']))
    .option('--json', 'print {prefillTokPerS, decodeTokPerS, prefillRoofTokPerS, decodeRoofTokPerS, …}')
    .action(benchInference);
}
