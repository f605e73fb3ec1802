import { appendFile, mkdir, readFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { CheckpointError } from '../src/errors.js';

/** What one grid cell (one method on one generated sample) produced. One JSON line each in `cells.jsonl`. */
export interface CellRecord {
  /** Identity of the cell: a rerun skips keys already recorded. */
  readonly key: string;
  readonly task: string;
  readonly haystack: string;
  /** The method as written in --methods (with its @settings). */
  readonly method: string;
  readonly model: string;
  readonly length: number;
  readonly sample: number;
  readonly seed: number;
  /** Tokens of the generated document by the generating counter. */
  readonly tokens: number;
  readonly depth?: number;
  /** In [0, 1]; 0 for a failed cell. */
  readonly score: number;
  readonly expected: readonly string[];
  /** The answer, cut to 500 characters (a summary cell keeps its whole summary). */
  readonly answer: string;
  readonly modelCalls: number;
  /** Prompt tokens sent to the model, all calls together, by the model's counter. */
  readonly inputTokens: number;
  /** Tokens the model generated, all calls together. */
  readonly outputTokens: number;
  readonly wallMs: number;
  /** Present when the cell failed (a typed error such as an engine setting the model does not take). */
  readonly error?: { readonly code: string; readonly message: string };
  /** Summary cells (`tome eval summary`): the quality measures; `score` is then the planted-fact coverage. */
  readonly summary?: SummaryCellMetrics;
}

/** What a summary cell measures besides cost: coverage of planted facts, length against the budget, coherence. */
export interface SummaryCellMetrics {
  /** The method's summary budget in tokens. */
  readonly budget: number;
  /** Tokens of the summary by the model's counter. */
  readonly summaryTokens: number;
  /** summaryTokens / budget. */
  readonly lengthRatio: number;
  readonly withinBudget: boolean;
  readonly facts: number;
  readonly factsCovered: number;
  /** factsCovered / facts (also the cell's score). */
  readonly coverage: number;
  /** BooookScore coherence in [0, 1]; null when not judged (no judge, or a summary without sentences). */
  readonly coherence: number | null;
  /** Sentences of the summary: one judge call each when judged. */
  readonly sentences: number;
  /** Sentences the judge flagged; null when not judged. */
  readonly confusing: number | null;
  /** Flagged sentences per confusion type. */
  readonly confusions: Readonly<Record<string, number>>;
  /** The judge's spec; null when coherence was not judged. */
  readonly judge: string | null;
  readonly judgeCalls: number;
  /** Prompt and output tokens of the judge calls, by the judge's counter (not in the cell's inputTokens). */
  readonly judgeInputTokens: number;
  readonly judgeOutputTokens: number;
  /** Wall time of the judging (not in the cell's wallMs, which times the method only). */
  readonly judgeMs: number;
  /** Chunks the method read and levels of summaries it wrote. */
  readonly chunks: number;
  readonly levels: number;
}

/**
 * Finished cells, appended one JSON line at a time as they end, so an interrupted grid keeps everything it
 * finished and a rerun skips it. A torn last line (killed mid-write) is ignored.
 */
export class CellStore {
  private readonly records = new Map<string, CellRecord>();

  private constructor(readonly path: string | undefined) {}

  /** Open (and read) the store at `path`; without a path, cells live in memory only. */
  static async open(path: string | undefined): Promise<CellStore> {
    const store = new CellStore(path);
    if (path === undefined) return store;
    let text = '';
    try {
      text = await readFile(path, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw new CheckpointError('CHECKPOINT_UNREADABLE', path, 'cannot be read', 'check its permissions, or pass another --out', error);
    }
    const lines = text.split('\n').filter((line) => line.trim() !== '');
    lines.forEach((line, index) => {
      try {
        const record = JSON.parse(line) as CellRecord;
        if (typeof record.key === 'string') store.records.set(record.key, record);
      } catch (error) {
        if (index !== lines.length - 1) throw new CheckpointError('CHECKPOINT_UNREADABLE', path, `line ${index + 1} is not JSON`, 'delete the file to start the grid afresh', error);
      }
    });
    return store;
  }

  has(key: string): boolean {
    return this.records.has(key);
  }

  get(key: string): CellRecord | undefined {
    return this.records.get(key);
  }

  all(): CellRecord[] {
    return [...this.records.values()];
  }

  async add(record: CellRecord): Promise<void> {
    this.records.set(record.key, record);
    if (this.path === undefined) return;
    await mkdir(dirname(this.path), { recursive: true });
    await appendFile(this.path, `${JSON.stringify(record)}\n`);
  }
}
