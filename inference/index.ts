/**
 * tome/inference: local Llama-family models on ONNX Runtime, behind LangChain interfaces. Nothing in here knows
 * about agents or pipelines. Importing this module registers the `onnx:<dir | owner/repo>` model spec with
 * `resolveModel`.
 *
 *   checkpoint/  config.json, safetensors, tokenizer + chat template, hub cache
 *   graph/       ONNX graph builders (one make… per subgraph)
 *   session.ts   the only module that touches onnxruntime-node
 *   engine/      KV memory, attention policies, forward pass, generation loop, worker thread
 *   generation/  samplers, stop strings, log-probabilities
 *   langchain/   ChatOnnx, OnnxEmbeddings, the onnx: provider
 *   fixture/     deterministic random-weight checkpoints; reference/ a plain TypeScript forward pass
 */
import { registerOnnxProvider } from './langchain/onnx-provider.js';

export { TokenizerCounter, loadTokenizerCounter } from './tokenizer-counter.js';
export * from './checkpoint/index.js';
export * from './fixture/index.js';
export * from './generation/index.js';
export * from './langchain/index.js';
export { registerOnnxProvider, resolveOnnxModel } from './langchain/onnx-provider.js';
export type * from './engine/engine-contract.js';
export { openLocalEngine, type OpenEngineOptions } from './engine/open-engine.js';
export { OnnxEngine, type OnnxEngineOptions, type StopControl } from './engine/onnx-engine.js';
export { WorkerEngine } from './engine/worker-engine.js';
export { LlamaModel, type LlamaModelOptions, type AttentionRequest, type ForwardOutputs, type ForwardResult } from './engine/llama-model.js';
export { FullAttentionPolicy, type AttentionPolicy, type AttentionSelection, type AttentionStep, type PolicyDimensions } from './engine/attention-policy.js';
export { ATTENTION_MODES, parseAttentionOptions, resolveAttentionSettings, type AttentionMode, type AttentionSettings } from './engine/attention/attention-settings.js';
export { createAttentionPolicy } from './engine/attention/create-policy.js';
export { WindowedAttentionPolicy } from './engine/attention/windowed-policy.js';
export { KvMemory, LayerKvMemory } from './engine/kv-memory.js';
export { rotateRows, RotaryTable } from './rope.js';
export { applyRopeOverride, computeRope, RopeSchedule, ROPE_TYPES, trainedContextLength, validateRopeScaling, type ComputeRopeOptions, type HfRopeConfig, type RopeParameters, type RopeType } from './rope-scaling.js';
export { benchmarkAttentionMode, parseContextSizes, type AttentionBenchOptions, type AttentionBenchRow } from './attention-benchmark.js';
export { availableExecutionProvider, type ExecutionProviderName, type SessionOptions } from './session.js';
export { referenceForward, type ReferenceForwardOptions, type ReferenceForwardResult } from './reference/reference-forward.js';
export { benchmarkInference, nonEmbeddingParameters, type InferenceBenchmarkOptions, type InferenceBenchmarkResult } from './benchmark.js';
export { benchmarkInferenceInThread } from './benchmark-thread.js';

registerOnnxProvider();
