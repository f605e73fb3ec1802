/**
 * One unit of the Self-Controlled Memory (SCM) memory stream: a dialogue turn or a document segment, with the
 * summary and the embedding it is retrieved by. Items are append-only: once stored, an item is never rewritten,
 * so its `index` is a stable identity and the stream's order is its history.
 */
export interface MemoryItem {
  /** 0-based position in the stream: item n is the n-th ever added. */
  index: number;
  /** `turn`: a user input (`text`) and the agent's reply (`response`); `segment`: a piece of a long document. */
  kind: 'turn' | 'segment';
  text: string;
  /** The agent's reply, for turns. */
  response?: string;
  /** A short summary of the item (SCM's "memory summary"), shown when the full text does not fit. */
  summary: string;
  /** The vector the item is retrieved by (see `MemoryStream`'s `embedFrom`). */
  embedding: number[];
  /** When the item was added, ISO 8601. */
  createdAt: string;
  /** For segments: where the text came from in the source document. */
  source?: { charStart: number; charEnd: number };
}

/**
 * `value` as a {@link MemoryItem}, or a one-line description of what is wrong with it. Stores call this on every
 * item they load, so a hand-edited or foreign file fails with a precise message instead of a bad retrieval later.
 */
export function parseMemoryItem(value: unknown): MemoryItem | string {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return 'is not a JSON object';
  const item = value as Record<string, unknown>;
  if (!Number.isInteger(item.index) || (item.index as number) < 0) return '"index" is not a non-negative integer';
  if (item.kind !== 'turn' && item.kind !== 'segment') return '"kind" is neither "turn" nor "segment"';
  if (typeof item.text !== 'string') return '"text" is not a string';
  if (item.response !== undefined && typeof item.response !== 'string') return '"response" is not a string';
  if (typeof item.summary !== 'string') return '"summary" is not a string';
  if (!Array.isArray(item.embedding) || !item.embedding.every((component) => typeof component === 'number' && Number.isFinite(component))) {
    return '"embedding" is not an array of finite numbers';
  }
  if (typeof item.createdAt !== 'string' || Number.isNaN(Date.parse(item.createdAt))) return '"createdAt" is not an ISO date';
  if (item.source !== undefined) {
    const source = item.source as Record<string, unknown> | null;
    if (typeof source !== 'object' || source === null || !Number.isInteger(source.charStart) || !Number.isInteger(source.charEnd)) {
      return '"source" is not { charStart, charEnd } with integer offsets';
    }
  }
  return item as unknown as MemoryItem;
}

/**
 * Checks that `items` are exactly indices 0, 1, 2, … in order. Returns the position of the first item that breaks
 * the sequence (a gap or a duplicate) with a description, or `undefined` when the sequence is whole.
 */
export function findIndexBreak(items: readonly MemoryItem[]): { position: number; problem: string } | undefined {
  for (let position = 0; position < items.length; position++) {
    const index = items[position]!.index;
    if (index === position) continue;
    const problem = index < position ? `repeats index ${index} (expected ${position})` : `has index ${index} where ${position} was expected (a gap)`;
    return { position, problem };
  }
  return undefined;
}
