import { floatAttribute, type GraphInitializer, type GraphNode, type GraphSpec } from './onnx-graph.js';

/**
 * The graphs of one Llama-family model, one `make…` function per subgraph. The model is cut at attention so that
 * TypeScript chooses, per layer and per step, which keys/values a query sees and at which positions:
 *
 *   embed (TS) ─► [pre-attention ─► TS: KV memory, positions ─► attention block] × layers ─► final norm ─► lm head
 *
 * Weights arrive already laid out for MatMul ([in, out]); every node is named /model/layers.N/… as in the
 * ORT-GenAI builder so profiles and errors point at the right place.
 */

export interface ModelDimensions {
  hiddenSize: number;
  intermediateSize: number;
  numHeads: number;
  numKvHeads: number;
  headDim: number;
  /** Dimensions rotated per head (headDim unless partial rotary). */
  rotaryDim: number;
  vocabSize: number;
  rmsNormEps: number;
}

export interface LayerWeights {
  inputNorm: Float32Array; // [H]
  qkvWeight: Float32Array; // [H, Qd + 2·KVd]  (q_proj ‖ k_proj ‖ v_proj, transposed)
  qkvBias: Float32Array | null; // [Qd + 2·KVd]
  outputWeight: Float32Array; // [Qd, H]
  outputBias: Float32Array | null; // [H]
  postAttentionNorm: Float32Array; // [H]
  gateUpWeight: Float32Array; // [H, 2·I]  (gate_proj ‖ up_proj, transposed)
  downWeight: Float32Array; // [I, H]
}

const rmsNorm = (name: string, input: string, weight: string, output: string, epsilon: number): GraphNode => ({
  opType: 'RMSNormalization',
  name,
  inputs: [input, weight],
  outputs: [output],
  // axis -1: normalize over the hidden dimension only; stash_type 1: accumulate in float32.
  attributes: { axis: -1, epsilon: floatAttribute(epsilon), stash_type: 1 },
});

const splitSizes = (name: string, sizes: number[]): GraphInitializer => ({ name, dims: [sizes.length], data: BigInt64Array.from(sizes.map(BigInt)) });

/**
 * Pre-attention part of layer `layer`: everything up to the un-rotated projections.
 *
 *   hidden [1,T,H] ─► RMSNorm ─► MatMul W_qkv [H, Qd+2KVd] ─► (+ b_qkv) ─► Split ─► q [1,T,Qd], k [1,T,KVd], v [1,T,KVd]
 */
export function makePreAttentionGraph(layer: number, dims: ModelDimensions, weights: LayerWeights): GraphSpec {
  const prefix = `/model/layers.${layer}`;
  const queryWidth = dims.numHeads * dims.headDim;
  const keyWidth = dims.numKvHeads * dims.headDim;
  const nodes: GraphNode[] = [
    rmsNorm(`${prefix}/input_layernorm/RMSNorm`, 'hidden', 'input_norm.weight', 'normed', dims.rmsNormEps),
    { opType: 'MatMul', name: `${prefix}/attn/qkv_proj/MatMul`, inputs: ['normed', 'qkv.weight'], outputs: [weights.qkvBias ? 'qkv_unbiased' : 'qkv'] },
  ];
  const initializers: GraphInitializer[] = [
    { name: 'input_norm.weight', dims: [dims.hiddenSize], data: weights.inputNorm },
    { name: 'qkv.weight', dims: [dims.hiddenSize, queryWidth + 2 * keyWidth], data: weights.qkvWeight },
    splitSizes('qkv.split', [queryWidth, keyWidth, keyWidth]),
  ];
  if (weights.qkvBias) {
    nodes.push({ opType: 'Add', name: `${prefix}/attn/qkv_proj/Add`, inputs: ['qkv_unbiased', 'qkv.bias'], outputs: ['qkv'] });
    initializers.push({ name: 'qkv.bias', dims: [queryWidth + 2 * keyWidth], data: weights.qkvBias });
  }
  nodes.push({ opType: 'Split', name: `${prefix}/attn/qkv_split`, inputs: ['qkv', 'qkv.split'], outputs: ['q', 'k', 'v'], attributes: { axis: -1 } });
  return {
    name: `layer${layer}_pre_attention`,
    inputs: [{ name: 'hidden', dims: [1, 'T', dims.hiddenSize] }],
    outputs: [
      { name: 'q', dims: [1, 'T', queryWidth] },
      { name: 'k', dims: [1, 'T', keyWidth] },
      { name: 'v', dims: [1, 'T', keyWidth] },
    ],
    nodes,
    initializers,
  };
}

/**
 * Attention block of layer `layer`: rotation of the queries and of the keys TypeScript chose, attention, output
 * projection and the MLP.
 *
 *   q [1,T,Qd]  ─► Rotary(cos_q, sin_q) ─┐
 *   k [1,S,KVd] ─► Rotary(cos_k, sin_k) ─┼─► Attention(+ mask [T,S], GQA) ─► MatMul W_o (+ b_o) ─► Add hidden ─► h
 *   v [1,S,KVd] ─────────────────────────┘
 *   h ─► RMSNorm ─► MatMul W_gate‖up ─► Split ─► silu(gate) · up ─► MatMul W_down ─► Add h ─► hidden_out [1,T,H]
 */
export function makeAttentionBlockGraph(layer: number, dims: ModelDimensions, weights: LayerWeights): GraphSpec {
  const prefix = `/model/layers.${layer}`;
  const queryWidth = dims.numHeads * dims.headDim;
  const keyWidth = dims.numKvHeads * dims.headDim;
  const half = dims.rotaryDim / 2;
  const rotary = (name: string, input: string, cos: string, sin: string, output: string, heads: number): GraphNode => ({
    opType: 'RotaryEmbedding',
    name,
    inputs: [input, cos, sin],
    outputs: [output],
    // interleaved 0: Hugging Face's rotate_half layout.
    attributes: { num_heads: heads, interleaved: 0, ...(dims.rotaryDim === dims.headDim ? {} : { rotary_embedding_dim: dims.rotaryDim }) },
  });
  const nodes: GraphNode[] = [
    rotary(`${prefix}/attn/q_rotary`, 'q', 'cos_q', 'sin_q', 'q_rotated', dims.numHeads),
    rotary(`${prefix}/attn/k_rotary`, 'k', 'cos_k', 'sin_k', 'k_rotated', dims.numKvHeads),
    {
      opType: 'Attention',
      name: `${prefix}/attn/Attention`,
      inputs: ['q_rotated', 'k_rotated', 'v', 'mask'],
      outputs: ['attention'],
      // 3D inputs need the head counts; fewer kv heads = grouped-query attention. Scale defaults to 1/√headDim.
      attributes: { q_num_heads: dims.numHeads, kv_num_heads: dims.numKvHeads },
    },
    { opType: 'MatMul', name: `${prefix}/attn/o_proj/MatMul`, inputs: ['attention', 'o.weight'], outputs: [weights.outputBias ? 'attention_out_unbiased' : 'attention_out'] },
  ];
  const initializers: GraphInitializer[] = [
    { name: 'o.weight', dims: [queryWidth, dims.hiddenSize], data: weights.outputWeight },
    { name: 'post_norm.weight', dims: [dims.hiddenSize], data: weights.postAttentionNorm },
    { name: 'gate_up.weight', dims: [dims.hiddenSize, 2 * dims.intermediateSize], data: weights.gateUpWeight },
    splitSizes('gate_up.split', [dims.intermediateSize, dims.intermediateSize]),
    { name: 'down.weight', dims: [dims.intermediateSize, dims.hiddenSize], data: weights.downWeight },
  ];
  if (weights.outputBias) {
    nodes.push({ opType: 'Add', name: `${prefix}/attn/o_proj/Add`, inputs: ['attention_out_unbiased', 'o.bias'], outputs: ['attention_out'] });
    initializers.push({ name: 'o.bias', dims: [dims.hiddenSize], data: weights.outputBias });
  }
  nodes.push(
    { opType: 'Add', name: `${prefix}/attn/residual`, inputs: ['attention_out', 'hidden'], outputs: ['after_attention'] },
    rmsNorm(`${prefix}/post_attention_layernorm/RMSNorm`, 'after_attention', 'post_norm.weight', 'mlp_in', dims.rmsNormEps),
    { opType: 'MatMul', name: `${prefix}/mlp/gate_up_proj/MatMul`, inputs: ['mlp_in', 'gate_up.weight'], outputs: ['gate_up'] },
    { opType: 'Split', name: `${prefix}/mlp/gate_up_split`, inputs: ['gate_up', 'gate_up.split'], outputs: ['gate', 'up'], attributes: { axis: -1 } },
    { opType: 'Sigmoid', name: `${prefix}/mlp/act_fn/Sigmoid`, inputs: ['gate'], outputs: ['gate_sigmoid'] },
    { opType: 'Mul', name: `${prefix}/mlp/act_fn/Mul`, inputs: ['gate', 'gate_sigmoid'], outputs: ['gate_silu'] },
    { opType: 'Mul', name: `${prefix}/mlp/gated`, inputs: ['gate_silu', 'up'], outputs: ['gated'] },
    { opType: 'MatMul', name: `${prefix}/mlp/down_proj/MatMul`, inputs: ['gated', 'down.weight'], outputs: ['mlp_out'] },
    { opType: 'Add', name: `${prefix}/mlp/residual`, inputs: ['mlp_out', 'after_attention'], outputs: ['hidden_out'] },
  );
  return {
    name: `layer${layer}_attention_block`,
    inputs: [
      { name: 'hidden', dims: [1, 'T', dims.hiddenSize] },
      { name: 'q', dims: [1, 'T', queryWidth] },
      { name: 'k', dims: [1, 'S', keyWidth] },
      { name: 'v', dims: [1, 'S', keyWidth] },
      { name: 'cos_q', dims: [1, 'T', half] },
      { name: 'sin_q', dims: [1, 'T', half] },
      { name: 'cos_k', dims: [1, 'S', half] },
      { name: 'sin_k', dims: [1, 'S', half] },
      { name: 'mask', dims: ['T', 'S'] },
    ],
    outputs: [{ name: 'hidden_out', dims: [1, 'T', dims.hiddenSize] }],
    nodes,
    initializers,
  };
}

/** Final norm: hidden [1,N,H] ─► RMSNorm ─► normed [1,N,H] (embeddings read this; the lm head consumes it). */
export function makeFinalNormGraph(dims: ModelDimensions, normWeight: Float32Array): GraphSpec {
  return {
    name: 'final_norm',
    inputs: [{ name: 'hidden', dims: [1, 'N', dims.hiddenSize] }],
    outputs: [{ name: 'normed', dims: [1, 'N', dims.hiddenSize] }],
    nodes: [rmsNorm('/model/norm/RMSNorm', 'hidden', 'norm.weight', 'normed', dims.rmsNormEps)],
    initializers: [{ name: 'norm.weight', dims: [dims.hiddenSize], data: normWeight }],
  };
}

/** LM head, only for the rows whose logits are needed: normed [1,N,H] ─► MatMul W [H,V] ─► logits [1,N,V]. */
export function makeLmHeadGraph(dims: ModelDimensions, lmHeadWeight: Float32Array): GraphSpec {
  return {
    name: 'lm_head',
    inputs: [{ name: 'normed', dims: [1, 'N', dims.hiddenSize] }],
    outputs: [{ name: 'logits', dims: [1, 'N', dims.vocabSize] }],
    nodes: [{ opType: 'MatMul', name: '/lm_head/MatMul', inputs: ['normed', 'lm_head.weight'], outputs: ['logits'] }],
    initializers: [{ name: 'lm_head.weight', dims: [dims.hiddenSize, dims.vocabSize], data: lmHeadWeight }],
  };
}
