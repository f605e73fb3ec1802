/**
 * tome/inference: local models. For now, the model's own tokenizer as a TokenCounter; the ONNX Runtime engine
 * (`onnx:<dir>` model specs) lands here too. Nothing in here knows about agents or pipelines.
 */
export { TokenizerCounter, loadTokenizerCounter } from './tokenizer-counter.js';
