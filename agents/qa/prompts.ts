import { ChatPromptTemplate } from '@langchain/core/prompts';

/** Prompts of the plain question-answering agent (the truncate and rag baselines). */
export const QA_PROMPT_VERSION = 1;

/** Variables: context, question, wordLimit. */
export const answerFromContextPrompt = ChatPromptTemplate.fromMessages([
  ['system', 'You answer questions about a document using only the passages given. If they do not contain the answer, say so.'],
  [
    'human',
    `Passages from the document, in the order they appear:

{context}

Question: {question}

Answer in at most {wordLimit} words.`,
  ],
]);
