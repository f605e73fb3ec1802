export * from './model-call.js';
export * from './summarizer/index.js';
