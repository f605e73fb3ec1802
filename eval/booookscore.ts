import type { Callbacks } from '@langchain/core/callbacks/manager';
import { HumanMessage, SystemMessage } from '@langchain/core/messages';
import pLimit from 'p-limit';
import { callModel } from '../agents/model-call.js';
import { InvalidOptionError } from '../src/errors.js';
import type { ModelHandle } from '../src/models/model-handle.js';
import { splitSentences } from '../src/models/extractive/sentences.js';

/**
 * BooookScore (Chang et al., ICLR 2024): a judge model reads the whole summary and, one sentence at a time, says
 * whether that sentence would confuse a reader in one of eight ways. Score = share of sentences without confusion.
 */
export const CONFUSION_TYPES = ['entity omission', 'event omission', 'causal omission', 'salience', 'discontinuity', 'duplication', 'inconsistency', 'language'] as const;
export type ConfusionType = (typeof CONFUSION_TYPES)[number];

export interface SentenceJudgement {
  readonly index: number;
  readonly sentence: string;
  /** Empty when the judge found the sentence clear; `unspecified` when it said yes without naming a type. */
  readonly confusions: readonly (ConfusionType | 'unspecified')[];
  readonly reply: string;
}

export interface CoherenceResult {
  /** Share of sentences without confusion, in [0, 1] (the paper reports it ×100). */
  readonly score: number;
  readonly sentences: number;
  readonly confusing: number;
  /** Sentences flagged per confusion type. */
  readonly byType: Readonly<Record<string, number>>;
  readonly judgements: readonly SentenceJudgement[];
  readonly judge: string;
  /** True when the judge is tome's extractive engine, which cannot judge: the score is then meaningless. */
  readonly judgeIsExtractive: boolean;
}

const JUDGE_INSTRUCTIONS = [
  'You check summaries of long books for passages that would confuse a reader who has not read the book.',
  'You get the whole summary and one sentence of it. Decide whether that sentence, read in place, causes any of these confusions:',
  '- entity omission: a person, place or thing appears without having been introduced;',
  '- event omission: it refers to an event the summary never described;',
  '- causal omission: why something happens is missing, so it makes no sense;',
  '- salience: it dwells on a detail that does not matter to the story;',
  '- discontinuity: it breaks the flow (abrupt jump, wrong order, unclear link to what came before);',
  '- duplication: it repeats what the summary already said;',
  '- inconsistency: it contradicts another part of the summary;',
  '- language: grammar or wording makes it hard to understand.',
  'Reply "none" when the sentence is clear. Otherwise reply with the names of the confusion types that apply, separated by commas, then one short sentence saying why.',
].join('\n');

/** The confusion types a judge's reply names (see {@link JUDGE_INSTRUCTIONS}); [] for a clear sentence. */
export function parseJudgement(reply: string): (ConfusionType | 'unspecified')[] {
  const text = reply.toLowerCase().replace(/[_-]/g, ' ');
  const found = CONFUSION_TYPES.filter((type) => text.includes(type));
  if (found.length > 0) return found;
  if (/^\W*(none|no)\b/.test(text)) return [];
  return /^\W*yes\b/.test(text) ? ['unspecified'] : [];
}

export interface BooookScoreOptions {
  /** Judge calls in flight at once. Default 4. */
  readonly concurrency?: number;
  readonly signal?: AbortSignal;
  /** Tokens kept free for each judge reply. Default 120. */
  readonly replyTokens?: number;
  /** LangChain callbacks for the judge calls (e.g. to count their tokens). */
  readonly callbacks?: Callbacks;
}

/**
 * The BooookScore coherence of one summary.
 * @throws InvalidOptionError for a summary without sentences; PromptOverflowError when the summary does not fit the judge's window.
 */
export async function booookScore(summary: string, judge: ModelHandle, options: BooookScoreOptions = {}): Promise<CoherenceResult> {
  const sentences = splitSentences(summary).map((sentence) => sentence.text);
  if (sentences.length === 0) throw new InvalidOptionError('summary', summary.slice(0, 40), 'a summary with at least one sentence');
  const limit = pLimit(options.concurrency ?? 4);
  const judgements = await Promise.all(
    sentences.map((sentence, index) =>
      limit(async (): Promise<SentenceJudgement> => {
        const question = `Sentence to check: "${sentence}"\nDoes this sentence cause any of the confusions? Reply "none" or name the types.`;
        const reply = await callModel(
          judge,
          {
            step: `booookscore/${index}`,
            messages: [new SystemMessage(JUDGE_INSTRUCTIONS), new HumanMessage(`Summary:\n${summary}\n\n${question}`)],
            task: { kind: 'answer', source: summary, query: question, wordLimit: 60 },
            reservedOutputTokens: options.replyTokens ?? 120,
          },
          { signal: options.signal, ...(options.callbacks ? { config: { callbacks: options.callbacks } } : {}) },
        );
        return { index, sentence, confusions: parseJudgement(reply.text), reply: reply.text };
      }),
    ),
  );
  const confusing = judgements.filter((judgement) => judgement.confusions.length > 0).length;
  const byType: Record<string, number> = {};
  for (const judgement of judgements) for (const type of judgement.confusions) byType[type] = (byType[type] ?? 0) + 1;
  return { score: 1 - confusing / sentences.length, sentences: sentences.length, confusing, byType, judgements, judge: judge.spec, judgeIsExtractive: judge.extractive };
}
