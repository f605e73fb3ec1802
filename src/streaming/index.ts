export type { InputTail, StreamedSegment, StreamSegmentsOptions } from './contracts.js';
export { DEFAULT_CHUNK_BYTES, streamSegments, type StreamReadOptions, type StreamSegmentsReadOptions } from './segment-stream.js';
export { readInputTail } from './input-tail.js';
