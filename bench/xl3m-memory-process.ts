/**
 * One XL3M run over a streamed file in its own process, so its peak RSS is its own: `tsx bench/xl3m-memory-process.ts
 * <checkpoint dir> <file>` prints {tokens, segments, seconds, maxRssMb}.
 */
import { xl3mAnswer } from 'tome';
import { resolveOnnxModel } from 'tome/inference';

const [directory, file] = process.argv.slice(2);
const model = await resolveOnnxModel(directory!, { contextWindow: 2048 });
const started = performance.now();
const result = await xl3mAnswer({ model, concurrency: 2 }, { segmentTokens: 512, questionTokens: 32, answerWords: 16 }).invoke({ path: file! });
const seconds = (performance.now() - started) / 1000;
// maxRSS is in KiB: the high-water mark of the whole process (engine thread included).
console.log(JSON.stringify({ tokens: result.inputTokens, segments: result.scored, seconds: Math.round(seconds * 10) / 10, maxRssMb: Math.round(process.resourceUsage().maxRSS / 1024) }));
process.exit(0);
