/**
 * A local model end to end: tome's ONNX Runtime engine as a plain engine (streaming, scoring, embeddings) and as a
 * LangChain chat model inside a tome pipeline.
 *
 *   npx tsx examples/local-model.ts                         # writes a random-weight tiny checkpoint first
 *   npx tsx examples/local-model.ts ./SmolLM2-135M-Instruct # any Llama-family checkpoint dir (or owner/repo)
 *
 * With no argument the model is a deterministic random-weight fixture: the text is gibberish, the mechanics and
 * the timings are real.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { askPipeline, documentFromText } from 'tome';
import { ChatOnnx, OnnxEmbeddings, openLocalEngine, resolveOnnxModel, writeFixture } from 'tome/inference';

let checkpoint = process.argv[2];
if (!checkpoint) {
  checkpoint = join(mkdtempSync(join(tmpdir(), 'tome-example-')), 'tiny');
  await writeFixture(checkpoint, { preset: 'tiny' });
  console.log(`wrote a tiny random-weight checkpoint to ${checkpoint}`);
}

// 1. The engine: it runs in a worker thread, so this thread stays free while it computes.
const engine = await openLocalEngine(checkpoint);
console.log(`${engine.info.architecture}, ${engine.info.numLayers} layers, window ${engine.info.contextWindow} tokens, on ${engine.info.executionProvider}`);

process.stdout.write('stream: ');
const result = await engine.generate({ prompt: 'Once upon a time', maxTokens: 32, onText: (delta) => process.stdout.write(delta) });
console.log(`\n  ${result.completionTokens} tokens (${result.finishReason}); prefill ${result.prefillMs.toFixed(1)} ms, decode ${(result.completionTokens / (result.decodeMs / 1000)).toFixed(0)} tok/s`);

// 2. Scoring: how likely each continuation token is, from one pass over context + continuation.
const scored = await engine.score('The whale was', ' white and enormous');
const total = scored.logProbs.reduce((sum, value) => sum + value, 0);
console.log(`score: ${scored.tokenIds.length} tokens, log p = ${total.toFixed(2)}, mean entropy ${(scored.entropies.reduce((a, b) => a + b, 0) / scored.entropies.length).toFixed(2)} nats`);

// 3. LangChain: the same engine as a chat model and as embeddings.
const chat = new ChatOnnx({ engine, maxTokens: 24 });
const reply = await chat.invoke([{ role: 'user', content: 'Say hello.' }]);
console.log(`ChatOnnx: ${JSON.stringify(reply.content)} usage ${JSON.stringify(reply.usage_metadata)}`);
const vectors = await new OnnxEmbeddings({ engine }).embedDocuments(['a white whale', 'a black cat']);
console.log(`OnnxEmbeddings: ${vectors.length} vectors of ${vectors[0]!.length} dimensions`);
await engine.dispose();

// 4. In a pipeline: `onnx:<dir>` is a model spec like any other (budgets use the checkpoint's own tokenizer).
const model = await resolveOnnxModel(checkpoint, { contextWindow: 1024 });
const document = documentFromText('Ishmael went to sea. The whale was white. The captain was Ahab. '.repeat(40), 'sea story');
const started = performance.now();
const answer = await askPipeline('truncate', { model }).invoke({ document, question: 'Who was the captain?' });
console.log(`ask (truncate): ${JSON.stringify(answer.answer.slice(0, 80))} — ${answer.modelCalls} call, ${answer.inputTokens} input tokens, ${(performance.now() - started).toFixed(0)} ms`);
