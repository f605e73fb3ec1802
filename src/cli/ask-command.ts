import { loadDocument } from '../documents.js';
import { InvalidOptionError } from '../errors.js';
import { modelFor } from './queue-commands.js';
import { askPipeline, type AskOptions } from '../../pipelines/ask-methods.js';
import type { AskMethod } from '../../pipelines/ask.js';
import type { CertaintyMeasure } from '../../agents/xl3m/certainty.js';
import { parseXl3mSelect, xl3mAnswer } from '../../pipelines/xl3m.js';
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
  questionTokens?: number;
  select?: string;
  measure?: CertaintyMeasure;
  threshold?: number;
  out?: string;
  queue?: string;
  prefix?: string;
}

/**
 * `tome ask <file> [question]`: the answer as text, or the whole result with evidence as JSON. Only xl3m may go
 * without a question (it then takes the file's last tokens) and it streams the file instead of loading it.
 */
export async function ask(file: string, question: string | undefined, options: AskCommandOptions): Promise<string> {
  if (options.method === 'xl3m') return askXl3m(file, question, options);
  if (question === undefined) throw new InvalidOptionError('question', question, 'the question to answer (only --method xl3m can take it from the end of the file)');
  const document = await loadDocument(file);
  // With --queue: a remote model (calls on the workers) and the Redis executor (registered steps on the workers).
  const { model, executor, close } = await modelFor(options.model, options);
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
    const pipeline = askPipeline(options.method, { model, executor, concurrency: options.concurrency, checkpointPath: options.checkpoint }, askOptions);
    const result = await runWithProgress(pipeline, { document, question });
    if (streamToStdout) return '';
    return options.json ? JSON.stringify(result) : result.answer;
  } finally {
    await close();
  }
}

/** XL3M over the file as a stream: the progress bar counts scored segments. */
async function askXl3m(file: string, question: string | undefined, options: AskCommandOptions): Promise<string> {
  const select = options.select === undefined ? {} : parseXl3mSelect(options.select);
  const { model, executor, close } = await modelFor(options.model, options);
  try {
    const pipeline = xl3mAnswer(
      { model, executor, concurrency: options.concurrency, checkpointPath: options.checkpoint },
      { segmentTokens: options.segmentTokens, questionTokens: options.questionTokens, measure: options.measure, threshold: options.threshold, answerWords: options.answerWords, k: options.k, ...select },
    );
    const result = await runWithProgress(pipeline, { path: file, question });
    return options.json ? JSON.stringify(result) : result.answer;
  } finally {
    await close();
  }
}
