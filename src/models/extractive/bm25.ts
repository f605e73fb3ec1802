/**
 * Okapi BM25 relevance of sentences to a query, for the question-answering tasks. The "documents" are the
 * sentences given, so inverse document frequency is computed over them: a query term found in few sentences
 * weighs more than one found everywhere in the chunk.
 *
 * IDF uses the non-negative form ln(1 + (N − df + 0.5) / (df + 0.5)), so a sentence scores above 0 exactly when
 * it holds at least one query term; callers rely on "score > 0" meaning "mentions the query".
 */

export interface Bm25Parameters {
  /** Term-frequency saturation. */
  readonly k1: number;
  /** Length normalisation: 0 ignores sentence length, 1 normalises fully. */
  readonly b: number;
}

export const DEFAULT_BM25_PARAMETERS: Bm25Parameters = { k1: 1.2, b: 0.75 };

/**
 * One BM25 score per sentence, given each sentence's terms (repeats count as term frequency) and the query's
 * terms (repeats ignored: a question that says "whale" twice is not twice as much about whales).
 */
export function bm25Scores(
  sentenceTerms: readonly (readonly string[])[],
  queryTerms: readonly string[],
  parameters: Bm25Parameters = DEFAULT_BM25_PARAMETERS,
): number[] {
  const count = sentenceTerms.length;
  const queryIndex = new Map<string, number>();
  for (const term of queryTerms) if (!queryIndex.has(term)) queryIndex.set(term, queryIndex.size);
  const scores = new Array<number>(count).fill(0);
  if (count === 0 || queryIndex.size === 0) return scores;

  const queryCount = queryIndex.size;
  // termFrequencies[sentence * queryCount + query term]
  const termFrequencies = new Int32Array(count * queryCount);
  const documentFrequencies = new Int32Array(queryCount);
  let totalLength = 0;
  for (let sentence = 0; sentence < count; sentence++) {
    const terms = sentenceTerms[sentence]!;
    totalLength += terms.length;
    const row = sentence * queryCount;
    for (const term of terms) {
      const query = queryIndex.get(term);
      if (query === undefined) continue;
      if (termFrequencies[row + query] === 0) documentFrequencies[query]!++;
      termFrequencies[row + query]!++;
    }
  }

  const { k1, b } = parameters;
  const averageLength = totalLength / count || 1;
  const inverseDocumentFrequencies = Array.from(documentFrequencies, (frequency) =>
    Math.log(1 + (count - frequency + 0.5) / (frequency + 0.5)),
  );
  for (let sentence = 0; sentence < count; sentence++) {
    const lengthNorm = k1 * (1 - b + (b * sentenceTerms[sentence]!.length) / averageLength);
    const row = sentence * queryCount;
    let score = 0;
    for (let query = 0; query < queryCount; query++) {
      const frequency = termFrequencies[row + query]!;
      if (frequency === 0) continue;
      score += (inverseDocumentFrequencies[query]! * frequency * (k1 + 1)) / (frequency + lengthNorm);
    }
    scores[sentence] = score;
  }
  return scores;
}
