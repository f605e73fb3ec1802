import { describe, expect, it } from 'vitest';
import { booookScore, containsWord, factCoverage, firstInteger, lengthCompliance, modelHandleFrom, parseJudgement, parseMethod, parseMethods, scoreAnswer, scoreContainsAll, scoreFirstInteger } from '../index.js';
import { ScriptedChatModel } from './helpers/scripted-chat-model.js';

describe('eval scorers', () => {
  it('passkey: the first integer of the answer must be the key', () => {
    expect(firstInteger('The pass key is 48213. Remember it.')).toBe('48213');
    expect(scoreFirstInteger('48213', '48213')).toBe(1);
    expect(scoreFirstInteger('It is 48213, not 11111.', '48213')).toBe(1);
    expect(scoreFirstInteger('Not 11111 but 48213.', '48213')).toBe(0);
    expect(scoreFirstInteger('The pass key is 482134.', '48213')).toBe(0);
    expect(scoreFirstInteger('no digits here', '48213')).toBe(0);
    expect(scoreFirstInteger('key: 048213', '48213')).toBe(1);
  });

  it('containment is whole-word and case-insensitive', () => {
    expect(containsWord('the number is 1234567.', '1234567')).toBe(true);
    expect(containsWord('the number is 91234567.', '1234567')).toBe(false);
    expect(containsWord('KORAVI and more', 'koravi')).toBe(true);
    expect(containsWord('koravitu', 'koravi')).toBe(false);
    expect(containsWord('for amber-falcon is', 'amber-falcon')).toBe(true);
  });

  it('RULER: share of expected answers found', () => {
    expect(scoreContainsAll('1111111 and 2222222', ['1111111', '2222222', '3333333', '4444444'])).toBe(0.5);
    expect(scoreContainsAll('nothing', ['1111111'])).toBe(0);
    expect(scoreContainsAll('VAR ABC = VAR XYZ', ['abc', 'xyz'])).toBe(1);
    expect(scoreAnswer('contains-all', 'a b c', [])).toBe(1);
    expect(scoreAnswer('first-integer', 'Key 12345', ['12345'])).toBe(1);
  });

  it('parses grid methods with their own options and model settings', () => {
    expect(parseMethod('rag@k=10+segment-tokens=256')).toEqual({ label: 'rag@k=10+segment-tokens=256', method: 'rag', askOptions: { k: 10, segmentTokens: 256 }, modelSettings: {} });
    expect(parseMethod('truncate@attention=blocks+rope=yarn:4+window=32768').modelSettings).toEqual({ attention: 'blocks', rope: 'yarn:4', window: '32768' });
    expect(parseMethods('coa, rag,truncate').map((method) => method.method)).toEqual(['coa', 'rag', 'truncate']);
    expect(() => parseMethod('magic')).toThrow(expect.objectContaining({ code: 'INVALID_OPTION' }));
    expect(() => parseMethod('rag@k=0')).toThrow(/k/);
    expect(() => parseMethod('rag@k')).toThrow(/key=value/);
    expect(() => parseMethods('rag,rag')).toThrow(/each method once/);
  });
});

describe('BooookScore and summary metrics', () => {
  const summary = 'Ishmael goes to sea on a whaler. The captain, Ahab, hunts a white whale. The captain, Ahab, hunts a white whale. Then Queequeg sings.';

  it('scores the share of sentences the judge finds clear, with a scripted judge', async () => {
    const judge = new ScriptedChatModel((task) => {
      if (task.kind !== 'answer') throw new Error(`unexpected ${task.kind}`);
      if (task.source !== summary) throw new Error('the judge must see the whole summary');
      if (task.query.includes('Queequeg')) return 'Entity omission, discontinuity: Queequeg was never introduced.';
      return 'none';
    });
    const result = await booookScore(summary, modelHandleFrom(judge, { contextWindow: 4096 }));
    expect(judge.calls).toHaveLength(4);
    expect(result.sentences).toBe(4);
    expect(result.confusing).toBe(1);
    expect(result.score).toBe(0.75);
    expect(result.byType).toEqual({ 'entity omission': 1, discontinuity: 1 });
    expect(result.judgements[3]!.confusions).toEqual(['entity omission', 'discontinuity']);
    expect(result.judgeIsExtractive).toBe(false);
  });

  it('counts a duplicated sentence when the judge says so', async () => {
    const judge = new ScriptedChatModel((_task, call) => (call.index === 2 ? 'duplication — repeats the previous sentence' : 'None.'));
    const result = await booookScore(summary, modelHandleFrom(judge, { contextWindow: 4096 }), { concurrency: 1 });
    expect(result.score).toBe(0.75);
    expect(result.byType).toEqual({ duplication: 1 });
  });

  it('reads judge replies', () => {
    expect(parseJudgement('none')).toEqual([]);
    expect(parseJudgement('No confusion here.')).toEqual([]);
    expect(parseJudgement('causal_omission; salience')).toEqual(['causal omission', 'salience']);
    expect(parseJudgement('Yes, the wording is off')).toEqual(['unspecified']);
    expect(parseJudgement('INCONSISTENCY with sentence 2')).toEqual(['inconsistency']);
  });

  it('rejects a summary without sentences; overflow of the judge window is a typed error', async () => {
    const judge = modelHandleFrom(new ScriptedChatModel(() => 'none'), { contextWindow: 256 });
    await expect(booookScore('   ', judge)).rejects.toMatchObject({ code: 'INVALID_OPTION' });
    await expect(booookScore(`${'A long sentence about the sea and ships. '.repeat(200)}`, judge)).rejects.toMatchObject({ code: 'PROMPT_OVERFLOW' });
  });

  it('length compliance and planted-fact coverage', () => {
    expect(lengthCompliance('one two three four', 3)).toMatchObject({ tokens: 4, budget: 3, withinBudget: false });
    expect(lengthCompliance('one two', 3).withinBudget).toBe(true);
    expect(() => lengthCompliance('x', 0)).toThrow(expect.objectContaining({ code: 'INVALID_OPTION' }));
    const facts = [{ sentence: 'a', mustContain: ['Koravi', 'Temasu'] }, { sentence: 'b', mustContain: ['Bidero'] }];
    const coverage = factCoverage('The keeper koravi lived at Temasu.', facts);
    expect(coverage.coverage).toBe(0.5);
    expect(coverage.missed).toEqual([facts[1]]);
  });
});
