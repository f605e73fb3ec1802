/** Loading Llama-family Hugging Face checkpoints: config, safetensors weights, tokenizer, hub cache. */
export * from './types.js';
export { loadCheckpoint } from './load-checkpoint.js';
export { parseModelConfig } from './model-config.js';
export { openWeightStore, validateWeights, expectedTensors, type SafetensorsWeightStore, type ExpectedTensor } from './weight-store.js';
export { loadChatTokenizer } from './chat-tokenizer.js';
export { resolveCheckpointDirectory, defaultHubCacheDir, type ResolveCheckpointOptions } from './hub.js';
export {
  writeSafetensors,
  openSafetensors,
  float32ToFloat16,
  float16ToFloat32,
  float32ToBfloat16,
  bfloat16ToFloat32,
  type SafetensorsFile,
  type SafetensorsEntry,
} from './safetensors.js';
