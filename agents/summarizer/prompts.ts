import { ChatPromptTemplate } from '@langchain/core/prompts';

/**
 * The book-summarization prompts, in one place. Bump {@link SUMMARIZER_PROMPT_VERSION} when a prompt changes:
 * it is part of every checkpoint fingerprint, so stale steps are never mixed with new ones.
 */
export const SUMMARIZER_PROMPT_VERSION = 1;

const SYSTEM = `You summarize long books for readers who have not read them. You use only what the given text says, \
name characters and places, keep events in the order they happen, and write plain, connected prose.`;

/** Level 0: one excerpt on its own. Variables: chunk, wordLimit. */
export const summarizeChunkPrompt = ChatPromptTemplate.fromMessages([
  ['system', SYSTEM],
  [
    'human',
    `Here is one excerpt from a longer book.

<excerpt>
{chunk}
</excerpt>

Summarize this excerpt in at most {wordLimit} words. Say what happens, who is involved and why it matters; \
mention anything that seems to be set up for later. Finish with a complete sentence.`,
  ],
]);

/** Higher levels: consecutive summaries into one. Variables: context (may be empty), summaries, wordLimit. */
export const mergeSummariesPrompt = ChatPromptTemplate.fromMessages([
  ['system', SYSTEM],
  [
    'human',
    `{context}The summaries below cover consecutive parts of a book, in reading order.

{summaries}

Combine them into one summary of at most {wordLimit} words. Keep the events in order, keep names consistent, \
drop repetition and make the passage from one part to the next read smoothly. Finish with a complete sentence.`,
  ],
]);

/** Wraps the previous merged summary of the same level, given for continuity only. */
export function mergeContextBlock(context: string): string {
  return context === '' ? '' : `For continuity only, here is the summary of what comes just before these parts (do not repeat it):\n\n${context}\n\n`;
}

/** How each summary is labelled inside the merge prompt. */
export function summaryBlock(summary: string, number: number): string {
  return `Summary ${number}:\n${summary}\n\n`;
}

/** Incremental updating: running summary + next excerpt. Variables: summary, chunk, part, parts, wordLimit. */
export const updateSummaryPrompt = ChatPromptTemplate.fromMessages([
  ['system', SYSTEM],
  [
    'human',
    `You are summarizing a book one part at a time. Here is the summary of everything before part {part} of {parts}:

<summary>
{summary}
</summary>

Here is part {part}:

<excerpt>
{chunk}
</excerpt>

Rewrite the summary so that it covers the book up to the end of part {part}, in at most {wordLimit} words. Keep \
the important earlier events, add what is new, and keep everything in order. Finish with a complete sentence.`,
  ],
]);

/** Shrinks a running summary that no longer leaves room for updates. Variables: summary, wordLimit. */
export const compressSummaryPrompt = ChatPromptTemplate.fromMessages([
  ['system', SYSTEM],
  [
    'human',
    `Shorten this summary to about {wordLimit} words. Keep the main events, the characters and their order; \
drop detail first. Finish with a complete sentence.

<summary>
{summary}
</summary>`,
  ],
]);
