import { ChatPromptTemplate } from '@langchain/core/prompts';

/**
 * Prompts of the Self-Controlled Memory agent and its controller, in one place. Bump the version when one changes:
 * it is part of checkpoint fingerprints.
 */
export const SCM_PROMPT_VERSION = 1;

const SYSTEM = `You are an assistant with a long-term memory of earlier conversation turns and of documents you have \
read. Use what the memory says when it is relevant, say so when it does not contain the answer, and never invent facts.`;

/** Controller question 1: does this input need memory at all? Variables: input. */
export const needsMemoryPrompt = ChatPromptTemplate.fromMessages([
  ['system', SYSTEM],
  [
    'human',
    `Here is the user's latest message:

<message>
{input}
</message>

To reply well, would you need to recall earlier turns of the conversation or documents you have read? \
Answer with one word: yes or no.`,
  ],
]);

/** Controller question 2: is a long memory's summary enough for this input? Variables: input, summary. */
export const summarySufficesPrompt = ChatPromptTemplate.fromMessages([
  ['system', SYSTEM],
  [
    'human',
    `The user asks:

<message>
{input}
</message>

Here is the summary of one memory:

<summary>
{summary}
</summary>

Does this summary hold everything from that memory needed to answer? Answer with one word: yes (the summary \
is enough) or no (the full memory is needed).`,
  ],
]);

/** The answer, from the fused memory. Variables: memory, input, wordLimit. */
export const answerWithMemoryPrompt = ChatPromptTemplate.fromMessages([
  ['system', SYSTEM],
  [
    'human',
    `What you remember that may be relevant, oldest first:

{memory}

The user's message:

<message>
{input}
</message>

Reply in at most {wordLimit} words.`,
  ],
]);

/** One-paragraph summary of a memory item (a turn or a document segment). Variables: text, wordLimit. */
export const memorySummaryPrompt = ChatPromptTemplate.fromMessages([
  ['system', SYSTEM],
  [
    'human',
    `Summarize the following in one paragraph of at most {wordLimit} words, keeping names, numbers and facts that \
someone might ask about later.

<text>
{text}
</text>`,
  ],
]);

/** Ultra-long documents: one block, with the block before it as background only. Variables: background, block, wordLimit. */
export const blockSummaryPrompt = ChatPromptTemplate.fromMessages([
  ['system', SYSTEM],
  [
    'human',
    `{background}Summarize this part of a long document in at most {wordLimit} words. Keep the events, names and \
facts in order.

<part>
{block}
</part>`,
  ],
]);

export function backgroundBlock(previous: string): string {
  return previous === '' ? '' : `For background only (it has been summarized already; do not summarize it again), the part just before:\n\n<background>\n${previous}\n</background>\n\n`;
}
