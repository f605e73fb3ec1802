import { floatAttribute, subgraphAttribute, type Dimension, type GraphInitializer, type GraphNode, type GraphSpec } from './onnx-graph.js';

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
  gateWeight: Float32Array; // [H, I]  (gate_proj, transposed)
  upWeight: Float32Array; // [H, I]  (up_proj, transposed)
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

/**
 * residual + RMSNorm in one op (ONNX Runtime contrib): output = RMSNorm(input + skip) · weight, and the sum itself
 * (the new residual stream). Saves a kernel launch and a pass over the hidden state per use (measured in bench).
 */
const skipRmsNorm = (name: string, input: string, skip: string, weight: string, output: string, sum: string, epsilon: number): GraphNode => ({
  opType: 'SkipSimplifiedLayerNormalization',
  domain: 'com.microsoft',
  name,
  inputs: [input, skip, weight],
  outputs: [output, '', '', sum],
  attributes: { epsilon: floatAttribute(epsilon) },
});

const int64s = (name: string, values: number[]): GraphInitializer => ({ name, dims: [values.length], data: BigInt64Array.from(values.map(BigInt)) });

/** Where a layer's attention runs: inside its attention-block graph (ONNX Runtime's Attention), or before it. */
export type AttentionPlacement = 'graph' | 'input';

/** Steps longer than this split their queries into causal blocks; shorter ones (decode) make one Attention call. */
export const CAUSAL_BLOCKING_MIN_QUERIES = 64;
/** Query blocks per long step: 4 skip 37% of a 512×512 score matrix and 19% at 512×1024 (8 measured no faster). */
export const CAUSAL_BLOCKS = 4;

/**
 * Pre-attention part of layer `layer`: everything up to the un-rotated projections.
 *
 *   hidden [1,T,H] ─► RMSNorm ─► MatMul W_qkv [H, Qd+2KVd] ─► (+ b_qkv) ─► qkv [1,T,Qd+2KVd]  (q ‖ k ‖ v per token)
 */
export function makePreAttentionGraph(layer: number, dims: ModelDimensions, weights: LayerWeights): GraphSpec {
  const { nodes, initializers, outputs } = preAttentionPart(layer, dims, weights, 'hidden', '');
  return { name: `layer${layer}_pre_attention`, inputs: [{ name: 'hidden', dims: [1, 'T', dims.hiddenSize] }], outputs, nodes, initializers };
}

/** The pre-attention nodes reading `input`; value and initializer names get `namePrefix` (for fused graphs). */
function preAttentionPart(layer: number, dims: ModelDimensions, weights: LayerWeights, input: string, namePrefix: string, residual?: { skip: string; sum: string }) {
  const prefix = `/model/layers.${layer}`;
  const queryWidth = dims.numHeads * dims.headDim;
  const keyWidth = dims.numKvHeads * dims.headDim;
  const local = (name: string) => `${namePrefix}${name}`;
  const nodes: GraphNode[] = [
    residual
      ? skipRmsNorm(`${prefix}/input_layernorm/SkipRMSNorm`, input, residual.skip, local('input_norm.weight'), local('normed'), residual.sum, dims.rmsNormEps)
      : rmsNorm(`${prefix}/input_layernorm/RMSNorm`, input, local('input_norm.weight'), local('normed'), dims.rmsNormEps),
    { opType: 'MatMul', name: `${prefix}/attn/qkv_proj/MatMul`, inputs: [local('normed'), local('qkv.weight')], outputs: [local(weights.qkvBias ? 'qkv_unbiased' : 'qkv')] },
  ];
  const initializers: GraphInitializer[] = [
    { name: local('input_norm.weight'), dims: [dims.hiddenSize], data: weights.inputNorm },
    { name: local('qkv.weight'), dims: [dims.hiddenSize, queryWidth + 2 * keyWidth], data: weights.qkvWeight },
  ];
  if (weights.qkvBias) {
    nodes.push({ opType: 'Add', name: `${prefix}/attn/qkv_proj/Add`, inputs: [local('qkv_unbiased'), local('qkv.bias')], outputs: [local('qkv')] });
    initializers.push({ name: local('qkv.bias'), dims: [queryWidth + 2 * keyWidth], data: weights.qkvBias });
  }
  // q‖k‖v leave as one tensor: TypeScript slices it (zero-copy for a decode step) instead of a Split kernel.
  const outputs = [{ name: local('qkv'), dims: [1, 'T', queryWidth + 2 * keyWidth] as Dimension[] }];
  return { nodes, initializers, outputs };
}

/**
 * Attention block of layer `layer`: rotation of the queries, attention over the keys TypeScript chose (already
 * rotated to the positions it chose them at), output projection and the MLP.
 *
 *   q [1,T,Qd]  ─► Rotary(cos_q, sin_q) ─┐
 *   k [1,S,KVd] (rotated) ───────────────┼─► causal attention (+ mask [T,S], GQA) ─► MatMul W_o (+ b_o) ─► Add hidden ─► h
 *   v [1,S,KVd] ─────────────────────────┘
 *   h ─► RMSNorm ─┬► MatMul W_gate ─► silu ─┬► · ─► MatMul W_down ─► Add h ─► hidden_out [1,T,H]
 *                 └► MatMul W_up ───────────┘
 *   with `nextLayer`: the MLP residual feeds layer+1's pre-attention ─► next_qkv
 *
 * With `attention: 'input'` the block starts at the output projection: the engine computes attention [1,T,Qd] itself
 * (the native kernel, engine/native-attention.ts) and feeds it in place of q, k, v, cos_q, sin_q and mask.
 */
export function makeAttentionBlockGraph(layer: number, dims: ModelDimensions, weights: LayerWeights, nextLayer?: LayerWeights, attention: AttentionPlacement = 'graph'): GraphSpec {
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
  const inGraph = attention === 'graph';
  const nodes: GraphNode[] = [
    ...(inGraph ? [rotary(`${prefix}/attn/q_rotary`, 'q', 'cos_q', 'sin_q', 'q_rotated', dims.numHeads), ...causalAttention(`${prefix}/attn`, dims)] : []),
    { opType: 'MatMul', name: `${prefix}/attn/o_proj/MatMul`, inputs: ['attention', 'o.weight'], outputs: [weights.outputBias ? 'attention_out_unbiased' : 'attention_out'] },
  ];
  const initializers: GraphInitializer[] = [
    { name: 'o.weight', dims: [queryWidth, dims.hiddenSize], data: weights.outputWeight },
    { name: 'post_norm.weight', dims: [dims.hiddenSize], data: weights.postAttentionNorm },
    { name: 'gate.weight', dims: [dims.hiddenSize, dims.intermediateSize], data: weights.gateWeight },
    { name: 'up.weight', dims: [dims.hiddenSize, dims.intermediateSize], data: weights.upWeight },
    { name: 'down.weight', dims: [dims.intermediateSize, dims.hiddenSize], data: weights.downWeight },
  ];
  if (weights.outputBias) {
    nodes.push({ opType: 'Add', name: `${prefix}/attn/o_proj/Add`, inputs: ['attention_out_unbiased', 'o.bias'], outputs: ['attention_out'] });
    initializers.push({ name: 'o.bias', dims: [dims.hiddenSize], data: weights.outputBias });
  }
  nodes.push(
    skipRmsNorm(`${prefix}/post_attention_layernorm/SkipRMSNorm`, 'attention_out', 'hidden', 'post_norm.weight', 'mlp_in', 'after_attention', dims.rmsNormEps),
    { opType: 'MatMul', name: `${prefix}/mlp/gate_proj/MatMul`, inputs: ['mlp_in', 'gate.weight'], outputs: ['gate'] },
    { opType: 'MatMul', name: `${prefix}/mlp/up_proj/MatMul`, inputs: ['mlp_in', 'up.weight'], outputs: ['up'] },
    { opType: 'Sigmoid', name: `${prefix}/mlp/act_fn/Sigmoid`, inputs: ['gate'], outputs: ['gate_sigmoid'] },
    { opType: 'Mul', name: `${prefix}/mlp/act_fn/Mul`, inputs: ['gate', 'gate_sigmoid'], outputs: ['gate_silu'] },
    { opType: 'Mul', name: `${prefix}/mlp/gated`, inputs: ['gate_silu', 'up'], outputs: ['gated'] },
    { opType: 'MatMul', name: `${prefix}/mlp/down_proj/MatMul`, inputs: ['gated', 'down.weight'], outputs: ['mlp_out'] },
  );
  // Fusing the next layer's pre-attention into this graph halves the session runs per token (each run costs
  // thread wake-ups and a boundary crossing); TypeScript still sits between every pre-attention and attention.
  // The MLP residual is folded into the next layer's input norm when there is one.
  const next = nextLayer ? preAttentionPart(layer + 1, dims, nextLayer, 'mlp_out', 'next_', { skip: 'after_attention', sum: 'hidden_out' }) : null;
  if (!next) nodes.push({ opType: 'Add', name: `${prefix}/mlp/residual`, inputs: ['mlp_out', 'after_attention'], outputs: ['hidden_out'] });
  if (next) {
    nodes.push(...next.nodes);
    initializers.push(...next.initializers);
  }
  if (inGraph) initializers.push(...causalAttentionConstants(dims));
  const attentionInputs = inGraph
    ? [
        { name: 'q', dims: [1, 'T', queryWidth] as Dimension[] },
        { name: 'k', dims: [1, 'S', keyWidth] as Dimension[] },
        { name: 'v', dims: [1, 'S', keyWidth] as Dimension[] },
        { name: 'cos_q', dims: [1, 'T', half] as Dimension[] },
        { name: 'sin_q', dims: [1, 'T', half] as Dimension[] },
        { name: 'mask', dims: ['T', 'S'] as Dimension[] },
      ]
    : [{ name: 'attention', dims: [1, 'T', queryWidth] as Dimension[] }];
  return {
    name: `layer${layer}_attention_block`,
    inputs: [{ name: 'hidden', dims: [1, 'T', dims.hiddenSize] }, ...attentionInputs],
    outputs: [{ name: 'hidden_out', dims: [1, 'T', dims.hiddenSize] }, ...(next?.outputs ?? [])],
    nodes,
    initializers,
  };
}

/**
 * Attention of the step's queries q_rotated [1,T,Qd] over k, v [1,S,KVd] under the additive mask [T,S] → attention
 * [1,T,Qd]. ONNX Runtime's Attention computes every score of the [T,S] matrix, masked or not; blocking the queries
 * skips the keys no query of a block can see:
 *
 *   T ≤ 64 (decode, short steps): Attention(q_rotated, k, v, mask), one call
 *   T > 64: CAUSAL_BLOCKS row blocks [s_b, e_b), e_b = ⌊(b+1)·T / blocks⌋; block b sees at most keys [0, S−T+e_b):
 *     q[s_b:e_b] ──────────────┐
 *     k[:S−T+e_b], v[:S−T+e_b] ┼─► Attention ─► a_b ─► Concat(a_0 … a_last, axis 1) ─► attention
 *     mask[s_b:e_b, :S−T+e_b] ─┘   (the last block, e_b = T, sees all of k and v: no slice)
 *
 * Exact for any policy that keeps the AttentionSelection contract (the step's own T keys are the last T rows and no
 * query sees a key after its own; the engine checks every new mask): a block's softmax runs over the same visible
 * keys, only the summation order differs. Both If branches read the enclosing graph's values by name.
 */
function causalAttention(prefix: string, dims: ModelDimensions): GraphNode[] {
  const queryWidth = dims.numHeads * dims.headDim;
  // 3D inputs need the head counts; fewer kv heads = grouped-query attention. Scale defaults to 1/√headDim.
  const attention = (name: string, inputs: string[], output: string): GraphNode => ({
    opType: 'Attention',
    name,
    inputs,
    outputs: [output],
    attributes: { q_num_heads: dims.numHeads, kv_num_heads: dims.numKvHeads },
  });
  const blocks: GraphNode[] = [
    { opType: 'Shape', name: `${prefix}/blocks/key_count`, inputs: ['k'], outputs: ['key_count'], attributes: { start: 1, end: 2 } },
    { opType: 'Sub', name: `${prefix}/blocks/earlier_keys`, inputs: ['key_count', 'query_count'], outputs: ['earlier_keys'] },
  ];
  for (let block = 0; block < CAUSAL_BLOCKS; block++) {
    const name = (what: string) => `${prefix}/blocks/${block}/${what}`;
    const queryStart = block === 0 ? 'causal.zero' : `query_end_${block - 1}`;
    const [queryEnd, keyEnd] = [`query_end_${block}`, `key_end_${block}`];
    const lastBlock = block === CAUSAL_BLOCKS - 1;
    blocks.push(
      { opType: 'Mul', name: name('query_end_scaled'), inputs: ['query_count', `causal.block_${block + 1}`], outputs: [`query_end_scaled_${block}`] },
      { opType: 'Div', name: name('query_end'), inputs: [`query_end_scaled_${block}`, 'causal.blocks'], outputs: [queryEnd] },
      { opType: 'Add', name: name('key_end'), inputs: ['earlier_keys', queryEnd], outputs: [keyEnd] },
      { opType: 'Concat', name: name('mask_starts'), inputs: [queryStart, 'causal.zero'], outputs: [`mask_starts_${block}`], attributes: { axis: 0 } },
      { opType: 'Concat', name: name('mask_ends'), inputs: [queryEnd, keyEnd], outputs: [`mask_ends_${block}`], attributes: { axis: 0 } },
      { opType: 'Slice', name: name('q'), inputs: ['q_rotated', queryStart, queryEnd, 'causal.axis_1'], outputs: [`q_${block}`] },
      { opType: 'Slice', name: name('mask'), inputs: ['mask', `mask_starts_${block}`, `mask_ends_${block}`, 'causal.axes_0_1'], outputs: [`mask_${block}`] },
    );
    // The last block's last query sees every key: it reads k and v as they are (a Slice would copy them whole).
    const [keys, values] = lastBlock ? ['k', 'v'] : [`k_${block}`, `v_${block}`];
    if (!lastBlock) {
      blocks.push(
        { opType: 'Slice', name: name('k'), inputs: ['k', 'causal.zero', keyEnd, 'causal.axis_1'], outputs: [keys] },
        { opType: 'Slice', name: name('v'), inputs: ['v', 'causal.zero', keyEnd, 'causal.axis_1'], outputs: [values] },
      );
    }
    blocks.push(
      attention(name('Attention'), [`q_${block}`, keys, values, `mask_${block}`], `attention_unshaped_${block}`),
      // Shape inference reads a different width off sliced and unsliced keys; naming it lets Concat merge them.
      { opType: 'Reshape', name: name('Reshape'), inputs: [`attention_unshaped_${block}`, 'causal.output_shape'], outputs: [`attention_${block}`] },
    );
  }
  blocks.push(
    { opType: 'Concat', name: `${prefix}/blocks/Concat`, inputs: Array.from({ length: CAUSAL_BLOCKS }, (_, block) => `attention_${block}`), outputs: ['attention_blocks'], attributes: { axis: 1 } },
  );
  const output = (name: string) => [{ name, dims: [1, 'T', queryWidth] as Dimension[] }];
  return [
    { opType: 'Shape', name: `${prefix}/query_count`, inputs: ['q'], outputs: ['query_count'], attributes: { start: 1, end: 2 } },
    { opType: 'Greater', name: `${prefix}/long_step`, inputs: ['query_count', 'causal.min_queries'], outputs: ['long_step'] },
    {
      opType: 'If',
      name: `${prefix}/causal_blocking`,
      inputs: ['long_step'],
      outputs: ['attention'],
      attributes: {
        then_branch: subgraphAttribute({ name: 'causal_blocks', nodes: blocks, outputs: output('attention_blocks') }),
        else_branch: subgraphAttribute({ name: 'single_call', nodes: [attention(`${prefix}/Attention`, ['q_rotated', 'k', 'v', 'mask'], 'attention_single')], outputs: output('attention_single') }),
      },
    },
  ];
}

function causalAttentionConstants(dims: ModelDimensions): GraphInitializer[] {
  return [
    int64s('causal.zero', [0]),
    int64s('causal.axis_1', [1]),
    int64s('causal.axes_0_1', [0, 1]),
    int64s('causal.blocks', [CAUSAL_BLOCKS]),
    int64s('causal.min_queries', [CAUSAL_BLOCKING_MIN_QUERIES]),
    int64s('causal.output_shape', [1, -1, dims.numHeads * dims.headDim]),
    ...Array.from({ length: CAUSAL_BLOCKS }, (_, block) => int64s(`causal.block_${block + 1}`, [block + 1])),
  ];
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

/**
 * Next-token distributions of scored rows, in ONNX Runtime's vectorized kernels instead of a JavaScript exp loop
 * over the vocabulary (that loop made scoring ~7% slower than a plain prefill of the same tokens):
 *
 *   logits [1,N,V] ─► LogSoftmax ─► log_probs [1,N,V]
 *                         └─► Exp ─► · log_probs ─► ReduceSum(V) ─► Neg ─► entropy [1,N]  (nats)
 */
export function makeTokenDistributionGraph(dims: ModelDimensions): GraphSpec {
  return {
    name: 'token_distributions',
    inputs: [{ name: 'logits', dims: [1, 'N', dims.vocabSize] }],
    outputs: [
      { name: 'log_probs', dims: [1, 'N', dims.vocabSize] },
      { name: 'entropy', dims: [1, 'N'] },
    ],
    nodes: [
      { opType: 'LogSoftmax', name: '/scores/LogSoftmax', inputs: ['logits'], outputs: ['log_probs'], attributes: { axis: -1 } },
      { opType: 'Exp', name: '/scores/Exp', inputs: ['log_probs'], outputs: ['probs'] },
      { opType: 'Mul', name: '/scores/Mul', inputs: ['probs', 'log_probs'], outputs: ['weighted'] },
      { opType: 'ReduceSum', name: '/scores/ReduceSum', inputs: ['weighted', 'vocab_axis'], outputs: ['negative_entropy'], attributes: { keepdims: 0 } },
      { opType: 'Neg', name: '/scores/Neg', inputs: ['negative_entropy'], outputs: ['entropy'] },
    ],
    initializers: [{ name: 'vocab_axis', dims: [1], data: BigInt64Array.from([-1n]) }],
  };
}
