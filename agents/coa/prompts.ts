import { ChatPromptTemplate } from '@langchain/core/prompts';

/**
 * The Chain-of-Agents prompts (Zhang et al., NeurIPS 2024), in our own words. Bump {@link COA_PROMPT_VERSION}
 * when a prompt changes: it is part of every checkpoint fingerprint, so stale steps are never mixed with new ones.
 *
 * Workers read one part of a long text each, in order, and hand a "communication unit" (CU) — their running
 * notes — to the next worker. The manager sees only the last CU (and the question) and writes the final output.
 */
export const COA_PROMPT_VERSION = 1;

const WORKER_SYSTEM = `You are one of several readers working through a long text in turn. Each reader sees only \
its own part, plus the notes the reader before it passed on. You use only what the notes and your part say.`;

const MANAGER_SYSTEM = `You write the final result for a team of readers who went through a long text part by \
part. You only see the notes the last reader passed on; they stand in for the whole text.`;

/**
 * Wraps the previous CU inside a worker prompt. The first worker gets a fixed short note instead: pipelines
 * budget the previous CU at up to `maxCuTokens`, so the note always fits in that room.
 */
export function previousNotesBlock(previous: string): string {
  return previous.trim() === '' ? '(none yet: you are the first reader)' : previous;
}

/** Query-based worker. Variables: previous, chunk, query, wordLimit. */
export const workerQueryPrompt = ChatPromptTemplate.fromMessages([
  ['system', WORKER_SYSTEM],
  [
    'human',
    `The question the team must answer:
<question>
{query}
</question>

Notes passed on by the reader before you:
<notes>
{previous}
</notes>

Your part of the text:
<part>
{chunk}
</part>

Write updated notes for the next reader, in at most {wordLimit} words. Keep what the earlier notes established \
that bears on the question, add every fact from your part that helps answer it (quote names, numbers and key \
sentences exactly), and correct earlier notes if your part contradicts them. If your part adds nothing useful, \
pass the earlier notes on. Do not answer yet; only write the notes.`,
  ],
]);

/** Query-free worker (summarization): extend a running summary. Variables: previous, chunk, wordLimit. */
export const workerSummaryPrompt = ChatPromptTemplate.fromMessages([
  ['system', WORKER_SYSTEM],
  [
    'human',
    `Running summary of the text so far, written by the readers before you:
<notes>
{previous}
</notes>

Your part of the text, which comes right after what the summary covers:
<part>
{chunk}
</part>

Rewrite the running summary so that it also covers your part, in at most {wordLimit} words. Keep the important \
earlier events, add what happens in your part, name the people and places involved and keep everything in \
order. Finish with a complete sentence.`,
  ],
]);

/** Default manager instruction when answering a question. */
export const DEFAULT_QUESTION_INSTRUCTION = `Answer the question from the notes. Be direct and specific; if the \
notes do not contain the answer, say so plainly.`;

/** Default manager instruction without a question. */
export const DEFAULT_SUMMARY_INSTRUCTION = `Write a summary of the whole text from the notes, for a reader who has \
not read it: what happens, who is involved and why it matters, in order. Finish with a complete sentence.`;

/** Manager with a question. Variables: instruction, communication, query, wordLimit. */
export const managerQueryPrompt = ChatPromptTemplate.fromMessages([
  ['system', MANAGER_SYSTEM],
  [
    'human',
    `Notes from the last reader, covering the whole text:
<notes>
{communication}
</notes>

<question>
{query}
</question>

{instruction}
Use at most {wordLimit} words.`,
  ],
]);

/** Manager without a question (the final summary). Variables: instruction, communication, wordLimit. */
export const managerSummaryPrompt = ChatPromptTemplate.fromMessages([
  ['system', MANAGER_SYSTEM],
  [
    'human',
    `Notes from the last reader, covering the whole text:
<notes>
{communication}
</notes>

{instruction}
Use at most {wordLimit} words.`,
  ],
]);

/** Shrinks a communication unit that came back longer than its budget. Variables: communication, wordLimit. */
export const compressNotesPrompt = ChatPromptTemplate.fromMessages([
  ['system', WORKER_SYSTEM],
  [
    'human',
    `These notes are too long to pass on. Shorten them to about {wordLimit} words. Keep names, numbers, quoted \
sentences and anything that answers the team's question; drop repetition and minor detail first. Finish with a \
complete sentence.

<notes>
{communication}
</notes>`,
  ],
]);

/** Judge over several reading paths. Variables: question (block, may be empty), candidates, count. */
export const judgePrompt = ChatPromptTemplate.fromMessages([
  [
    'system',
    `You compare candidate results that different teams of readers produced from the same long text, each team \
having read its parts in a different order.`,
  ],
  [
    'human',
    `{question}{candidates}

Which candidate is best: the most correct, specific and complete? Reply with its number (1 to {count}) only.`,
  ],
]);

/** The question line of the judge prompt; '' without a question. */
export function judgeQuestionBlock(query: string | undefined): string {
  return query === undefined || query.trim() === '' ? '' : `<question>\n${query}\n</question>\n\n`;
}

/** How candidate `number` (1-based) is shown to the judge. */
export function candidateBlock(candidate: string, number: number): string {
  return `Candidate ${number}:\n${candidate}\n\n`;
}
