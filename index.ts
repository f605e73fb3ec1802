/**
 * The `tome` package: core (src/), agents and pipelines. `tome/inference` and `tome/queue` are separate entry
 * points so that importing tome never loads an inference runtime or a Redis client you do not use.
 */
export * from './src/index.js';
export * from './agents/index.js';
export * from './pipelines/index.js';
export * from './eval/index.js';
