import { describe, expect, it } from 'vitest';
import { countPromptTokens } from '../agents/model-call.js';
import { evalTask, modelHandleFrom, ragAnswer, resolveModelWithSettings, truncateAnswer } from '../index.js';
import type { TokenCounter } from '../src/tokens/token-counter.js';
import { mobyDickChapter, syntheticBook } from './helpers/books.js';
import { ScriptedChatModel } from './helpers/scripted-chat-model.js';

/** Reserved for the default 130-word answer: ceil(130 / 0.65). */
const ANSWER_TOKENS = 200;

/** A counter that does not add up over concatenation (a quarter of the characters, rounded up), like BPE at edges. */
const quarterCounter: TokenCounter = { name: 'quarter', count: (text) => Math.ceil(text.length / 4) };

const passkey = (tokens: number, sample: number) => evalTask('passkey').generate({ tokens, sample, samples: 3, seed: 7 });
const niah = (tokens: number, sample: number) => evalTask('niah-single').generate({ tokens, sample, samples: 5, seed: 1 });

const DOCUMENTS: { name: string; text: string; question: string; short?: boolean }[] = [
  { name: 'passkey filler', text: passkey(20_000, 0).document, question: passkey(20_000, 0).question, short: true },
  { name: 'niah filler', text: niah(16_384, 2).document, question: niah(16_384, 2).question, short: true },
  { name: 'paragraphs', text: syntheticBook(300), question: 'Which ship is it?' },
  { name: 'moby dick', text: [1, 2, 3, 4, 5].map(mobyDickChapter).join('\n\n'), question: 'Who is Ishmael, and why does he go to sea?' },
  { name: 'digits and newlines', text: Array.from({ length: 3000 }, (_, index) => `Line ${index}: ${index * 7919}.\n`).join(''), question: 'What is on line 12?', short: true },
];
const WINDOWS = [512, 777, 1024, 2048, 4095, 8192];

describe('truncate baseline', () => {
  for (const counter of [undefined, quarterCounter]) {
    it(`never sends a prompt that overflows the window, and fills it with short units (${counter?.name ?? 'approximate'} counter)`, async () => {
      for (const document of DOCUMENTS) {
        for (const window of WINDOWS) {
          const model = new ScriptedChatModel(() => 'An answer.');
          const handle = modelHandleFrom(model, { contextWindow: window, ...(counter ? { tokenCounter: counter } : {}) });
          const result = await truncateAnswer({ model: handle }).invoke({ document: document.text, question: document.question });
          expect(result.modelCalls, `${document.name} @ ${window}`).toBe(1);
          const sent = countPromptTokens(handle, model.calls[0]!.messages);
          expect(sent + ANSWER_TOKENS, `${document.name} @ ${window}`).toBeLessThanOrEqual(window);
          // Not cut short either: within one sentence or line of the window (the passage ends on a whole unit).
          // Not cut short either: with the approximate counter and short units (filler sentences, lines), the passage
          // ends within a unit or two of the window.
          if (!counter && document.short) expect(window - sent - ANSWER_TOKENS, `${document.name} @ ${window}`).toBeLessThanOrEqual(8);
        }
      }
    }, 30_000);
  }

  it('the niah-single cells that overflowed by one token (7993 + 200 > 8192) now run on the offline engine', async () => {
    const model = await resolveModelWithSettings('extractive', {});
    for (const [tokens, sample] of [[8192, 4], [16_384, 2], [16_384, 3], [32_768, 1], [262_144, 4]] as const) {
      const input = niah(tokens, sample);
      const result = await truncateAnswer({ model }).invoke({ document: input.document, question: input.question });
      expect(result.modelCalls).toBe(1);
      expect(result.evidence[0]!.charStart).toBe(0);
    }
  });
});

describe('rag baseline', () => {
  it('never sends a prompt that overflows the window, however many passages it may take', async () => {
    for (const document of DOCUMENTS) {
      for (const window of [512, 1024, 2048]) {
        for (const counter of [undefined, quarterCounter]) {
          const model = new ScriptedChatModel(() => 'An answer.');
          const handle = modelHandleFrom(model, { contextWindow: window, ...(counter ? { tokenCounter: counter } : {}) });
          await ragAnswer({ model: handle }, { k: 50, segmentTokens: 32 }).invoke({ document: document.text, question: document.question });
          const sent = countPromptTokens(handle, model.calls[0]!.messages);
          expect(sent + ANSWER_TOKENS, `${document.name} @ ${window} (${counter?.name ?? 'approximate'})`).toBeLessThanOrEqual(window);
        }
      }
    }
  }, 30_000);
});
