import type { LlamaConfig, WeightStore } from '../checkpoint/types.js';
import type { LayerWeights } from '../graph/llama-graphs.js';

/**
 * Hugging Face stores Linear weights as [out, in]; MatMul wants [in, out]. These helpers read one layer at a time
 * (so peak memory stays near one layer's worth of float32 on top of the model), fuse q‖k‖v into one MatMul, and
 * transpose. gate and up stay two MatMuls: fused, their output needed a Split copy that cost more (measured in bench)
 * than one more kernel launch.
 */

/** [rows, columns] → [columns, rows], in cache-friendly tiles. */
export function transpose(source: Float32Array, rows: number, columns: number): Float32Array {
  const target = new Float32Array(source.length);
  const tile = 32;
  for (let rowStart = 0; rowStart < rows; rowStart += tile) {
    const rowEnd = Math.min(rowStart + tile, rows);
    for (let columnStart = 0; columnStart < columns; columnStart += tile) {
      const columnEnd = Math.min(columnStart + tile, columns);
      for (let row = rowStart; row < rowEnd; row++) {
        for (let column = columnStart; column < columnEnd; column++) target[column * rows + row] = source[row * columns + column]!;
      }
    }
  }
  return target;
}

/** Stack [rowsᵢ, columns] matrices vertically, then transpose: the fused [columns, Σ rowsᵢ] MatMul weight. */
function fuseAndTranspose(parts: readonly Float32Array[], columns: number): Float32Array {
  const totalRows = parts.reduce((sum, part) => sum + part.length / columns, 0);
  const stacked = new Float32Array(totalRows * columns);
  let offset = 0;
  for (const part of parts) {
    stacked.set(part, offset);
    offset += part.length;
  }
  return transpose(stacked, totalRows, columns);
}

function concatenate(parts: readonly Float32Array[]): Float32Array {
  const joined = new Float32Array(parts.reduce((sum, part) => sum + part.length, 0));
  let offset = 0;
  for (const part of parts) {
    joined.set(part, offset);
    offset += part.length;
  }
  return joined;
}

export function prepareLayerWeights(config: LlamaConfig, weights: WeightStore, layer: number): LayerWeights {
  const name = (suffix: string) => `model.layers.${layer}.${suffix}`;
  const hidden = config.hiddenSize;
  const projections = ['q_proj', 'k_proj', 'v_proj'].map((projection) => weights.float32(name(`self_attn.${projection}.weight`)));
  return {
    inputNorm: weights.float32(name('input_layernorm.weight')),
    qkvWeight: fuseAndTranspose(projections, hidden),
    qkvBias: config.qkvBias ? concatenate(['q_proj', 'k_proj', 'v_proj'].map((projection) => weights.float32(name(`self_attn.${projection}.bias`)))) : null,
    outputWeight: transpose(weights.float32(name('self_attn.o_proj.weight')), hidden, config.numHeads * config.headDim),
    outputBias: config.outputBias ? weights.float32(name('self_attn.o_proj.bias')) : null,
    postAttentionNorm: weights.float32(name('post_attention_layernorm.weight')),
    gateWeight: transpose(weights.float32(name('mlp.gate_proj.weight')), config.intermediateSize, hidden),
    upWeight: transpose(weights.float32(name('mlp.up_proj.weight')), config.intermediateSize, hidden),
    downWeight: transpose(weights.float32(name('mlp.down_proj.weight')), hidden, config.intermediateSize),
  };
}

/** The token embedding matrix [vocab, hidden] (row lookup happens in TypeScript). */
export function embeddingMatrix(weights: WeightStore): Float32Array {
  return weights.float32('model.embed_tokens.weight');
}

/** The LM head as a MatMul weight [hidden, vocab]: lm_head.weight, or the embedding when tied. */
export function lmHeadWeight(config: LlamaConfig, weights: WeightStore, embedding: Float32Array): Float32Array {
  const source = config.tieWordEmbeddings ? embedding : weights.float32('lm_head.weight');
  return transpose(source, config.vocabSize, config.hiddenSize);
}
