/**
 * The LangChain face of tome's local inference engine: a chat model and embeddings over any `LocalEngine`,
 * so pipelines, agents and LangChain code use a local checkpoint like any other provider.
 */
export { ChatOnnx, TOME_ONNX_PROVIDER, type ChatOnnxCallOptions, type ChatOnnxFields, type ChatOnnxSampling } from './chat-onnx.js';
export { OnnxEmbeddings, DEFAULT_EMBEDDING_BATCH_SIZE, type OnnxEmbeddingsFields } from './onnx-embeddings.js';
export { toChatMessages } from './chat-messages.js';
export { streamGeneratedText } from './generation-stream.js';
