import { InvalidOptionError } from '../../src/errors.js';
import { approximateTokenCounter } from '../../src/tokens/approximate-token-counter.js';
import { assembleText, type Needle } from '../assemble.js';
import { haystackSentences, UnitBuffer } from '../haystack.js';
import { deriveSeed, distinctWords, madeUpWord, randomInt, seededRandom, shuffle } from '../random.js';
import { sweptDepth, type EvalSample, type EvalTask, type GenerateOptions } from '../task.js';

/*
 * RULER-style synthetic tasks (Hsieh et al., 2024), generated in our own words: needle retrieval in four
 * variants, variable tracking, and two aggregation tasks. Every answer is a whole word or number that occurs in
 * the document; scoring is the share of expected answers the model's answer contains.
 */

const NEEDLE_INSTRUCTIONS = 'Some special magic numbers are hidden inside the following text. Make sure to memorize them; you will be asked about them.';

function magicNumber(random: () => number): string {
  return String(randomInt(random, 1_000_000, 9_999_999));
}

function magicKey(random: () => number, taken: Set<string>): string {
  for (;;) {
    const key = distinctWords(random, 2, 3).join('-');
    if (!taken.has(key)) {
      taken.add(key);
      return key;
    }
  }
}

const needleSentence = (key: string, value: string) => `One of the special magic numbers for ${key} is: ${value}.`;

type NeedleVariant = 'single' | 'multikey' | 'multivalue' | 'multiquery';

/** Needle-in-a-haystack: `single` (one needle), `multikey` (3 decoys with other keys), `multivalue` (4 values for the key), `multiquery` (4 keys asked at once). */
function needleTask(variant: NeedleVariant): EvalTask {
  const name = `niah-${variant}`;
  const descriptions: Record<NeedleVariant, string> = {
    single: 'one magic number for one key, at a swept depth',
    multikey: 'the magic number of one key among decoy needles with other keys',
    multivalue: 'all four magic numbers of one key',
    multiquery: 'the magic numbers of four keys asked at once',
  };
  return {
    name,
    description: descriptions[variant],
    generate(options: GenerateOptions): EvalSample {
      const random = seededRandom(deriveSeed(name, options.seed, options.tokens, options.sample));
      const depth = sweptDepth(options.sample, options.samples);
      const keys = new Set<string>();
      const target = magicKey(random, keys);
      const needles: Needle[] = [];
      const answers: string[] = [];
      let queried = [target];
      const place = (key: string, first: boolean) => {
        const value = magicNumber(random);
        needles.push({ text: needleSentence(key, value), depth: first ? depth : random() });
        return value;
      };
      answers.push(place(target, true));
      if (variant === 'multikey') for (let index = 0; index < 3; index++) place(magicKey(random, keys), false);
      if (variant === 'multivalue') for (let index = 0; index < 3; index++) answers.push(place(target, false));
      if (variant === 'multiquery') {
        for (let index = 0; index < 3; index++) {
          const key = magicKey(random, keys);
          queried = [...queried, key];
          answers.push(place(key, false));
        }
      }
      const assembled = assembleText({ task: name, tokens: options.tokens, counter: options.counter ?? approximateTokenCounter, prefix: NEEDLE_INSTRUCTIONS, units: new UnitBuffer(haystackSentences(options.haystack ?? 'filler', random)), needles });
      const question =
        variant === 'multivalue'
          ? `What are all the special magic numbers for ${target} mentioned in the text?`
          : variant === 'multiquery'
            ? `What are the special magic numbers for ${queried.slice(0, -1).join(', ')} and ${queried.at(-1)} mentioned in the text?`
            : `What is the special magic number for ${target} mentioned in the text?`;
      return { task: name, document: assembled.text, question, answers, scoring: 'contains-all', tokens: assembled.tokens, depth };
    },
  };
}

/** Variable tracking: a chain `VAR A = 12345`, `VAR B = VAR A`, … (4 hops) spread over the haystack in order. */
export const variableTrackingTask: EvalTask = {
  name: 'vt',
  description: 'variable tracking: name every variable that ends up holding a value (a 4-hop chain)',
  generate(options: GenerateOptions): EvalSample {
    const random = seededRandom(deriveSeed('vt', options.seed, options.tokens, options.sample));
    const names = distinctWords(random, 5, 3).map((word) => word.toUpperCase());
    const value = String(randomInt(random, 10000, 99999));
    const start = sweptDepth(options.sample, options.samples) * 0.5;
    const needles = names.map((name, index) => ({ text: index === 0 ? `VAR ${name} = ${value}.` : `VAR ${name} = VAR ${names[index - 1]}.`, depth: start + ((1 - start) * index) / names.length }));
    const assembled = assembleText({ task: 'vt', tokens: options.tokens, counter: options.counter ?? approximateTokenCounter, prefix: 'Memorize and track the chain of variable assignments hidden in the following text.', units: new UnitBuffer(haystackSentences(options.haystack ?? 'filler', random)), needles });
    return { task: 'vt', document: assembled.text, question: `Find all variables that are assigned the value ${value} in the text, directly or through other variables.`, answers: names, scoring: 'contains-all', tokens: assembled.tokens, depth: start };
  },
};

/** Common words extraction: 10 words repeated often in a long list of words repeated 3 times each. */
export const commonWordsTask: EvalTask = {
  name: 'cwe',
  description: 'common words: the 10 most frequent words of a long numbered list',
  generate(options: GenerateOptions): EvalSample {
    const counter = options.counter ?? approximateTokenCounter;
    const random = seededRandom(deriveSeed('cwe', options.seed, options.tokens, options.sample));
    const common = distinctWords(random, 10, 3);
    // Cost of one list item at the longest numbering this length can reach (conservative: sizes the list to fit).
    const itemTokens = counter.count(`${Math.ceil(options.tokens / 2)}. koravi`);
    // The common words take at most half the list; each appears at least 4 times, more than any other word (3).
    const commonFrequency = Math.min(30, Math.floor((0.5 * options.tokens) / (10 * itemTokens)));
    if (commonFrequency < 4) throw new InvalidOptionError('--lengths', options.tokens, `at least ${80 * itemTokens} tokens for cwe`);
    const rareCount = Math.max(0, Math.floor((0.9 * (options.tokens - 10 * commonFrequency * itemTokens)) / (3 * itemTokens)));
    const rare = distinctWords(random, rareCount, 3, new Set(common));
    const items = shuffle(random, [...common.flatMap((word) => Array<string>(commonFrequency).fill(word)), ...rare.flatMap((word) => [word, word, word])]);
    const taken = new Set([...common, ...rare]);
    // After the list, fresh words that appear once each fill the exact length without changing the ranking.
    const units = function* (): Generator<string> {
      let index = 0;
      for (const word of items) yield `${++index}. ${word}`;
      for (;;) {
        let word = madeUpWord(random);
        while (taken.has(word)) word = madeUpWord(random);
        taken.add(word);
        yield `${++index}. ${word}`;
      }
    };
    const assembled = assembleText({ task: 'cwe', tokens: options.tokens, counter, prefix: 'Below is a numbered list of words. Some of them appear many times.', units: new UnitBuffer(units()) });
    if (assembled.units < items.length) throw new InvalidOptionError('--lengths', options.tokens, 'a longer length for cwe (the word list did not fit)');
    return { task: 'cwe', document: assembled.text, question: 'What are the 10 most common words in the list above?', answers: common, scoring: 'contains-all', tokens: assembled.tokens };
  },
};

/** Frequent words extraction: "coded" made-up words drawn with Zipf frequencies (α = 2); name the top three. */
export const frequentWordsTask: EvalTask = {
  name: 'fwe',
  description: 'frequent words: the 3 most frequent made-up words of a Zipf-distributed text',
  generate(options: GenerateOptions): EvalSample {
    const random = seededRandom(deriveSeed('fwe', options.seed, options.tokens, options.sample));
    const vocabulary = distinctWords(random, 200, 3);
    const weights = vocabulary.map((_, rank) => 1 / (rank + 1) ** 2);
    const total = weights.reduce((sum, weight) => sum + weight, 0);
    const draw = () => {
      let remaining = random() * total;
      for (let rank = 0; rank < weights.length; rank++) if ((remaining -= weights[rank]!) <= 0) return vocabulary[rank]!;
      return vocabulary.at(-1)!;
    };
    const units = function* (): Generator<string> {
      for (;;) yield draw();
    };
    const prefix = 'Read the following coded text and keep track of how often each coded word appears.';
    const assembled = assembleText({ task: 'fwe', tokens: options.tokens, counter: options.counter ?? approximateTokenCounter, prefix, units: new UnitBuffer(units()) });
    const counts = new Map<string, number>();
    for (const word of assembled.text.slice(prefix.length).split(/\s+/)) if (word !== '') counts.set(word, (counts.get(word) ?? 0) + 1);
    const ranked = vocabulary.filter((word) => counts.has(word)).sort((a, b) => counts.get(b)! - counts.get(a)!);
    return { task: 'fwe', document: assembled.text, question: 'What are the three most frequently appearing coded words in the text above?', answers: ranked.slice(0, 3), scoring: 'contains-all', tokens: assembled.tokens };
  },
};

export const rulerTasks: readonly EvalTask[] = [needleTask('single'), needleTask('multikey'), needleTask('multivalue'), needleTask('multiquery'), variableTrackingTask, commonWordsTask, frequentWordsTask];
