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
  attention: string;
  attentionOpts?: string;
  rope?: string;
  contextWindow?: number;
  json?: boolean;
}

interface AttentionBenchCommandOptions {
  model?: string;
  preset: string;
  modes: string;
  contexts: string;
  attentionOpts?: string;
  decodeTokens: number;
  decodeRounds: number;
  threads: number;
  budget: number;
  inProcess?: boolean;
  json?: boolean;
}

interface BenchCommandOptions {
  model?: string;
  preset: string;
  threads: number;
  chunk: number;
  promptTokens?: number;
  decodeTokens: number;
  quantize?: 'int4' | 'int8';
  attentionKernel: 'auto' | 'native' | 'onnx';
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
  const { openLocalEngine, parseAttentionOptions } = await import('../../inference/index.js');
  const engine = await openLocalEngine(localModel(options.model), {
    threads: options.threads,
    ...quantization(options.quantize),
    ...(options.attention !== 'full' || options.attentionOpts ? { attention: { mode: options.attention, options: parseAttentionOptions(options.attentionOpts) } } : {}),
    ...(options.rope ? { ropeOverride: options.rope } : {}),
    ...(options.contextWindow ? { contextWindow: options.contextWindow } : {}),
  });
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

/** The checkpoint a bench runs on: --model, or a fixture of --preset generated once per machine. */
async function benchCheckpoint(model: string | undefined, preset: string): Promise<string> {
  const inference = await import('../../inference/index.js');
  if (model) return inference.resolveCheckpointDirectory(localModel(model));
  if (!inference.isFixturePresetName(preset)) throw new InvalidOptionError('--preset', preset, inference.FIXTURE_PRESET_NAMES.join(' | '));
  // A deterministic random-weight checkpoint of the preset's real shape.
  const directory = join(tmpdir(), 'tome-fixtures', `${preset}-seed0`);
  if (!existsSync(join(directory, 'config.json'))) {
    await mkdir(directory, { recursive: true });
    process.stderr.write(`tome: writing the ${preset} fixture to ${directory} (once)\n`);
    await inference.writeFixture(directory, { preset });
  }
  return directory;
}

async function benchInference(options: BenchCommandOptions): Promise<void> {
  const inference = await import('../../inference/index.js');
  const directory = await benchCheckpoint(options.model, options.preset);
  const result = await inference.benchmarkInferenceInThread(directory, { threads: options.threads, prefillChunkSize: options.chunk, ...(options.promptTokens ? { prefillTokens: options.promptTokens } : {}), decodeTokens: options.decodeTokens, attentionKernel: options.attentionKernel, ...quantization(options.quantize) });
  if (options.json) {
    process.stdout.write(`${JSON.stringify(result)}\n`);
    return;
  }
  const percent = (share: number) => `${Math.round(share * 100)}%`;
  const range = (key: 'prefillShareOfRoof' | 'decodeShareOfRoof') => result.rounds.map((entry) => percent(entry[key])).join(' ');
  process.stdout.write(
    [
      `model ${result.model} (${(result.nonEmbeddingParameters / 1e6).toFixed(1)}M non-embedding parameters), ${result.weights} weights, ${result.attentionKernel} attention, ${result.threads} threads; medians of ${result.rounds.length} rounds`,
      `prefill ${result.prefillTokPerS} tok/s  = ${percent(result.prefillShareOfRoof)} of roof ${result.prefillRoofTokPerS} tok/s (MatMul ${result.matmulGflops} GFLOP/s over the same FLOPs, fastest run ${result.matmulPeakGflops}); rounds ${range('prefillShareOfRoof')}; first prefill of the engine ${result.firstPrefillTokPerS} tok/s`,
      `decode  ${result.decodeTokPerS} tok/s  = ${percent(result.decodeShareOfRoof)} of roof ${result.decodeRoofTokPerS} tok/s (bandwidth ${result.bandwidthGBps} GB/s over the same bytes, fastest run ${result.bandwidthPeakGBps}); rounds ${range('decodeShareOfRoof')}`,
    ].join('\n') + '\n',
  );
}

const round = (value: number) => Math.round(value * 10) / 10;

/**
 * `tome bench attention`: each mode runs in its own process (this CLI again, with --in-process), so the resident
 * memory reported is that mode's alone; rows stream back as JSON lines.
 */
async function benchAttention(options: AttentionBenchCommandOptions): Promise<void> {
  const inference = await import('../../inference/index.js');
  const modes = options.modes.split(',').map((mode) => mode.trim());
  for (const mode of modes) if (!(inference.ATTENTION_MODES as readonly string[]).includes(mode)) throw new InvalidOptionError('--modes', mode, inference.ATTENTION_MODES.join(','));
  let contexts: number[];
  try {
    contexts = inference.parseContextSizes(options.contexts);
  } catch {
    throw new InvalidOptionError('--contexts', options.contexts, 'comma-separated sizes such as 4k,32k,128k,1m');
  }
  const attentionOptions = inference.parseAttentionOptions(options.attentionOpts);
  const directory = await benchCheckpoint(options.model, options.preset);
  if (options.inProcess) {
    for (const mode of modes) {
      await inference.benchmarkAttentionMode(directory, { mode, contexts, attentionOptions, decodeTokens: options.decodeTokens, decodeRounds: options.decodeRounds, threads: options.threads, budgetSeconds: options.budget, onRow: (row) => process.stdout.write(`${JSON.stringify(row)}\n`) });
    }
    return;
  }
  const { spawn } = await import('node:child_process');
  const rows: Array<Record<string, unknown>> = [];
  for (const mode of modes) {
    const args = [...process.execArgv, process.argv[1]!, 'bench', 'attention', '--in-process', '--model', `onnx:${directory}`, '--modes', mode, '--contexts', options.contexts, '--decode-tokens', String(options.decodeTokens), '--decode-rounds', String(options.decodeRounds), '--threads', String(options.threads), '--budget', String(options.budget)];
    if (options.attentionOpts) args.push('--attention-opts', options.attentionOpts);
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'inherit'] });
    let buffered = '';
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (chunk: string) => {
      buffered += chunk;
      let newline: number;
      while ((newline = buffered.indexOf('\n')) >= 0) {
        const line = buffered.slice(0, newline);
        buffered = buffered.slice(newline + 1);
        if (!line.trim()) continue;
        const row = JSON.parse(line) as Record<string, unknown>;
        rows.push(row);
        if (options.json) process.stdout.write(`${line}\n`);
        else process.stdout.write(`${String(row['mode']).padEnd(9)} ${String(row['contextTokens']).padStart(9)} tokens  ${row['infeasibleProjectedSeconds'] !== undefined ? `not run: prefill projected at ${String(row['infeasibleProjectedSeconds'])} s` : `decode ${String(row['decodeMsPerToken'])} ms/token (rounds ${(row['decodeRangeMsPerToken'] as number[]).join('–')})  rss ${String(row['rssMb'])} MB  recall ${String(row['recall'] ?? '-')}  prefill ${String(row['prefillTokPerS'])} tok/s`}\n`);
      }
    });
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
    if (code !== 0) throw new Error(`the ${mode} benchmark process exited with code ${String(code)}`);
  }
}

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
    .addOption(new Option('--attention <mode>', 'attention past the trained window: full | streaming | blocks | knn').choices(['full', 'streaming', 'blocks', 'knn']).default('full'))
    .option('--attention-opts <k=v,...>', 'override attention defaults: sinks, window, blockSize, stepSize, topK, representatives, positions, search, efSearch, efConstruction, indexing, maxDistance, offload')
    .option('--context-window <tokens>', 'longest prompt + output accepted (default: the checkpoint\'s, its RoPE extension\'s, or 100× the trained length past the window)', parsers.wholeNumber(1))
    .option('--rope <type:factor>', 'RoPE scaling instead of the checkpoint\'s: linear|ntk|dynamic|yarn|llama3:FACTOR[,key=value], or default')
    .option('--json', 'print {text, tokens, promptTokens, prefillMs, decodeMs, finishReason}')
    .action(generate);

  const bench = program.command('bench').description('benchmarks');
  bench
    .command('attention')
    .description('per-token decode latency, resident memory and retrieval recall of each attention mode as the context grows')
    .option('--model <spec>', 'onnx:<checkpoint dir or hub repo id> (default: a generated fixture of --preset)')
    .addOption(new Option('--preset <name>', 'fixture shape when no --model is given').default('tiny'))
    .option('--modes <list>', 'attention modes', 'full,streaming,blocks,knn')
    .option('--contexts <list>', 'context sizes (k = 1,000, m = 1,000,000)', '4k,32k,128k,1m')
    .option('--attention-opts <k=v,...>', 'override attention defaults for every mode')
    .option('--decode-tokens <n>', 'decode steps per timed round (at least one retrieval cell)', parsers.wholeNumber(1), 64)
    .option('--decode-rounds <n>', 'timed rounds per context; the median round is reported', parsers.wholeNumber(1), 5)
    .option('--threads <n>', 'ONNX Runtime threads', parsers.wholeNumber(1), 2)
    .option('--budget <seconds>', 'skip a full-attention context whose prefill is projected to take longer', parsers.wholeNumber(1), 240)
    .addOption(new Option('--in-process', 'run the modes in this process (used by the per-mode child processes)').hideHelp())
    .option('--json', 'print one {mode, contextTokens, decodeMsPerToken, rssMb, recall, prefillTokPerS, …} per line')
    .action(benchAttention);
  bench
    .command('inference')
    .description('prefill and decode tokens/s of a local model against the machine roofs measured in the same run')
    .option('--model <spec>', 'onnx:<checkpoint dir or hub repo id> (default: a generated fixture of --preset)')
    .addOption(new Option('--preset <name>', 'fixture shape when no --model is given').default('smollm2-135m'))
    .option('--threads <n>', 'ONNX Runtime threads', parsers.wholeNumber(1), 2)
    .option('--chunk <tokens>', 'prefill chunk size', parsers.wholeNumber(1), 512)
    .option('--prompt-tokens <n>', 'tokens prefilled per measurement (default: two chunks)', parsers.wholeNumber(65))
    .option('--decode-tokens <n>', 'tokens decoded per measurement', parsers.wholeNumber(1), 64)
    .addOption(new Option('--quantize <kind>', 'measure with int4 or int8 weights (roofs stay fp32)').choices(['int4', 'int8']))
    .addOption(new Option('--attention-kernel <kind>', 'who computes attention: native (fused kernel), onnx (ONNX Runtime), auto').choices(['auto', 'native', 'onnx']).default('auto'))
    .option('--json', 'print {prefillTokPerS, decodeTokPerS, prefillRoofTokPerS, decodeRoofTokPerS, …}')
    .action(benchInference);
}
