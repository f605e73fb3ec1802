import { loadDocument } from '../documents.js';
import { modelFor } from './queue-commands.js';
import { askPipeline, type AskOptions } from '../../pipelines/ask-methods.js';
import type { AskMethod } from '../../pipelines/ask.js';
import { runWithProgress } from './run-with-progress.js';

export interface AskCommandOptions {
  method: AskMethod;
  model: string;
  contextWindow?: number;
  concurrency: number;
  checkpoint?: string;
  json?: boolean;
  k?: number;
  segmentTokens?: number;
  answerWords?: number;
  memory?: string;
  maxCuTokens?: number;
  paths?: number;
  out?: string;
  queue?: string;
  prefix?: string;
}

/** `tome ask <file> <question>`: the answer as text, or the whole result with evidence as JSON. */
export async function ask(file: string, question: string, options: AskCommandOptions): Promise<string> {
  const document = await loadDocument(file);
  const { model, close } = await modelFor(options.model, options);
  const askOptions: AskOptions = {
    k: options.k,
    segmentTokens: options.segmentTokens,
    answerWords: options.answerWords,
    memoryDirectory: options.memory,
    maxCuTokens: options.maxCuTokens,
    paths: options.paths,
  };
  // Chain-of-Agents streams its manager's answer: show it as it comes when the answer goes to a terminal or pipe.
  const streamToStdout = options.method === 'coa' && !options.json && options.out === undefined;
  if (streamToStdout) askOptions.onAnswerChunk = (text) => process.stdout.write(text);
  try {
    const pipeline = askPipeline(options.method, { model, concurrency: options.concurrency, checkpointPath: options.checkpoint }, askOptions);
    const result = await runWithProgress(pipeline, { document, question });
    if (streamToStdout) return '';
    return options.json ? JSON.stringify(result) : result.answer;
  } finally {
    await close();
  }
}
