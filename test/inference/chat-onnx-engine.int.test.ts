import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LocalEngine } from '../../inference/engine/engine-contract.js';
import { openLocalEngine } from '../../inference/engine/open-engine.js';
import { ChatOnnx, OnnxEmbeddings } from '../../inference/langchain/index.js';
import { vectorNorm } from '../../src/embeddings/vectors.js';
import { writeTinyCheckpoint } from '../helpers/tiny-checkpoint.js';
import { describeChatModelChecks, recordPrompts } from './chat-model-checks.js';

/**
 * ChatOnnx and OnnxEmbeddings over the real engine (worker thread) on the tiny random-weight fixture: LangChain's
 * standard chat-model checks, and the embeddings contract. Fixture seed 0 with the checks' default 24 new tokens:
 * its greedy replies to the checks' questions run the full 24 tokens (no early EOS) and contain spaced words, so
 * the streaming, stop-sequence and abort checks all have something to work on.
 */
const FIXTURE_SEED = 0;

describeChatModelChecks('ChatOnnx on the real engine (tiny fixture)', async () => {
  const checkpoint = await writeTinyCheckpoint({ seed: FIXTURE_SEED });
  const opened = await openLocalEngine(checkpoint.directory, { thread: 'worker', threads: 1 });
  const { engine, prompts } = recordPrompts(opened);
  return {
    model: new ChatOnnx({ engine }),
    prompts: () => prompts,
    dispose: async () => {
      await engine.dispose();
      await checkpoint.remove();
    },
  };
});

describe('OnnxEmbeddings on the real engine (tiny fixture)', () => {
  const texts = ['The river runs past the old town.', 'Ships waited under grey skies.', 'A keeper counted lanterns.', 'x', 'The river runs past the old town!'];
  let engine: LocalEngine;
  let remove: () => Promise<void>;

  beforeAll(async () => {
    const checkpoint = await writeTinyCheckpoint({ seed: FIXTURE_SEED });
    remove = checkpoint.remove;
    engine = await openLocalEngine(checkpoint.directory, { thread: 'worker', threads: 1 });
  }, 30_000);

  afterAll(async () => {
    await engine?.dispose();
    await remove?.();
  });

  it('one unit vector of the model hidden size per document, deterministically', async () => {
    const embeddings = new OnnxEmbeddings({ engine });
    const vectors = await embeddings.embedDocuments(texts);
    expect(vectors).toHaveLength(texts.length);
    for (const vector of vectors) {
      expect(vector).toHaveLength(engine.info.hiddenSize);
      expect(vector.every(Number.isFinite)).toBe(true);
      expect(vectorNorm(vector)).toBeCloseTo(1, 6);
    }
    expect(await embeddings.embedDocuments(texts)).toEqual(vectors);
    // Different texts, different vectors.
    expect(new Set(vectors.map((vector) => vector.join(','))).size).toBe(texts.length);
  });

  it('embedQuery equals the document vector of the same text; batching does not change vectors', async () => {
    const documents = await new OnnxEmbeddings({ engine }).embedDocuments(texts);
    const inPairs = await new OnnxEmbeddings({ engine, batchSize: 2 }).embedDocuments(texts);
    expect(inPairs).toEqual(documents);
    expect(await new OnnxEmbeddings({ engine }).embedQuery(texts[2]!)).toEqual(documents[2]);
  });

  it('normalize: false returns the engine vectors (mean-pooled hidden states) unchanged', async () => {
    const raw = await engine.embed(texts);
    const unnormalized = await new OnnxEmbeddings({ engine, normalize: false }).embedDocuments(texts);
    expect(unnormalized).toEqual(raw);
    expect(vectorNorm(raw[0]!)).not.toBeCloseTo(1, 2);
    const normalized = await new OnnxEmbeddings({ engine }).embedDocuments(texts);
    raw.forEach((vector, index) => {
      const norm = vectorNorm(vector);
      vector.forEach((value, column) => expect(normalized[index]![column]!).toBeCloseTo(value / norm, 6));
    });
  });

  it('an empty text is a zero vector (not NaN), and no documents give no vectors', async () => {
    const [empty] = await new OnnxEmbeddings({ engine }).embedDocuments(['']);
    expect(empty).toEqual(new Array(engine.info.hiddenSize).fill(0));
    expect(await new OnnxEmbeddings({ engine }).embedDocuments([])).toEqual([]);
  });
});
