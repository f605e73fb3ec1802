/**
 * TextRank sentence centrality (Mihalcea & Tarau, 2004): sentences are nodes, edges weigh how many terms two
 * sentences share, and weighted PageRank finds the sentences most of the text "agrees with". It needs no training
 * data and no query, which is what a summary of an arbitrary chunk needs.
 *
 * Similarity of sentences i and j: |shared terms| / (ln|Si| + ln|Sj|), with |S| the number of distinct terms;
 * sentences with fewer than two distinct terms have no edges (ln 1 = 0 would make the ratio meaningless).
 *
 * Cost: pairs are found through a term → sentences inverted index, so only sentences that share a term are ever
 * compared; the work is the sum over terms of (sentences holding it)², at worst O(n²·terms per sentence), and a
 * few milliseconds for the ~400 sentences of a large chunk. PageRank then runs over the sparse edge list.
 */

export interface TextRankOptions {
  /** PageRank damping factor. */
  readonly damping?: number;
  /** Stop when the L1 change of the score vector falls below this. */
  readonly tolerance?: number;
  readonly maxIterations?: number;
}

const DEFAULT_DAMPING = 0.85;
const DEFAULT_TOLERANCE = 1e-6;
const DEFAULT_MAX_ITERATIONS = 100;

/**
 * One centrality score per sentence, given each sentence's terms (repeats allowed). Scores are positive and sum
 * to 1; a sentence linked to nothing keeps the baseline score. Deterministic: same input, same floats.
 */
export function textRankScores(sentenceTerms: readonly (readonly string[])[], options: TextRankOptions = {}): number[] {
  const damping = options.damping ?? DEFAULT_DAMPING;
  const tolerance = options.tolerance ?? DEFAULT_TOLERANCE;
  const maxIterations = options.maxIterations ?? DEFAULT_MAX_ITERATIONS;
  const count = sentenceTerms.length;
  if (count === 0) return [];
  if (count === 1) return [1];

  const graph = buildSimilarityGraph(sentenceTerms);
  return weightedPageRank(count, graph, damping, tolerance, maxIterations);
}

/** Undirected weighted edges, each stored once, plus every node's total edge weight. */
interface SimilarityGraph {
  readonly edgeFirst: Int32Array;
  readonly edgeSecond: Int32Array;
  readonly edgeWeight: Float64Array;
  readonly nodeWeight: Float64Array;
}

function buildSimilarityGraph(sentenceTerms: readonly (readonly string[])[]): SimilarityGraph {
  const count = sentenceTerms.length;
  const termIds = new Map<string, number>();
  const postings: number[][] = [];
  const sentenceTermIds: number[][] = [];
  const logSize = new Float64Array(count);
  for (let sentence = 0; sentence < count; sentence++) {
    const ids: number[] = [];
    for (const term of new Set(sentenceTerms[sentence])) {
      let id = termIds.get(term);
      if (id === undefined) {
        id = postings.length;
        termIds.set(term, id);
        postings.push([]);
      }
      ids.push(id);
      postings[id]!.push(sentence);
    }
    sentenceTermIds.push(ids);
    // NaN marks a sentence too short to link; it is skipped below.
    logSize[sentence] = ids.length >= 2 ? Math.log(ids.length) : Number.NaN;
  }

  const sharedCounts = new Int32Array(count);
  const touched = new Int32Array(count);
  const edgeFirst: number[] = [];
  const edgeSecond: number[] = [];
  const edgeWeight: number[] = [];
  const nodeWeight = new Float64Array(count);
  for (let first = 0; first < count; first++) {
    const firstLog = logSize[first]!;
    if (Number.isNaN(firstLog)) continue;
    let touchedCount = 0;
    for (const id of sentenceTermIds[first]!) {
      const holders = postings[id]!;
      for (let position = 0; position < holders.length; position++) {
        const second = holders[position]!;
        if (second <= first) continue;
        if (sharedCounts[second] === 0) touched[touchedCount++] = second;
        sharedCounts[second]!++;
      }
    }
    for (let index = 0; index < touchedCount; index++) {
      const second = touched[index]!;
      const shared = sharedCounts[second]!;
      sharedCounts[second] = 0;
      const secondLog = logSize[second]!;
      if (Number.isNaN(secondLog)) continue;
      const weight = shared / (firstLog + secondLog);
      edgeFirst.push(first);
      edgeSecond.push(second);
      edgeWeight.push(weight);
      nodeWeight[first]! += weight;
      nodeWeight[second]! += weight;
    }
  }
  return {
    edgeFirst: Int32Array.from(edgeFirst),
    edgeSecond: Int32Array.from(edgeSecond),
    edgeWeight: Float64Array.from(edgeWeight),
    nodeWeight,
  };
}

/**
 * Power iteration of weighted PageRank on an undirected graph. Rank of a node without edges ("dangling") is
 * spread evenly over all nodes, the standard fix that keeps the scores a probability distribution.
 */
function weightedPageRank(
  count: number,
  graph: SimilarityGraph,
  damping: number,
  tolerance: number,
  maxIterations: number,
): number[] {
  const { edgeFirst, edgeSecond, edgeWeight, nodeWeight } = graph;
  let rank = new Float64Array(count).fill(1 / count);
  let next = new Float64Array(count);
  // Share of a node's rank that flows along one unit of edge weight, refreshed every iteration.
  const flow = new Float64Array(count);
  for (let iteration = 0; iteration < maxIterations; iteration++) {
    let danglingRank = 0;
    for (let node = 0; node < count; node++) {
      const weight = nodeWeight[node]!;
      if (weight === 0) {
        danglingRank += rank[node]!;
        flow[node] = 0;
      } else {
        flow[node] = rank[node]! / weight;
      }
    }
    next.fill((1 - damping) / count + (damping * danglingRank) / count);
    for (let edge = 0; edge < edgeWeight.length; edge++) {
      const first = edgeFirst[edge]!;
      const second = edgeSecond[edge]!;
      const weight = damping * edgeWeight[edge]!;
      next[first]! += weight * flow[second]!;
      next[second]! += weight * flow[first]!;
    }
    let change = 0;
    for (let node = 0; node < count; node++) change += Math.abs(next[node]! - rank[node]!);
    [rank, next] = [next, rank];
    if (change < tolerance) break;
  }
  return Array.from(rank);
}
