import onnxProto from 'onnx-proto';

/**
 * A thin vocabulary over onnx-proto for building graphs by hand: typed values, initializers that reference the
 * caller's Float32Array without copying it, nodes with named attributes, and the model envelope. Builders in this
 * folder describe WHAT a subgraph computes; this module knows how ONNX spells it.
 */
const { onnx } = onnxProto;

/** ONNX IR version 10 (ONNX 1.16+) reads opset 23 ops; ONNX Runtime 1.30 accepts it. */
const IR_VERSION = 10;
/** Opset 23: RMSNormalization, RotaryEmbedding and Attention are standard ops here. */
export const DEFAULT_OPSET = 23;

export type Dimension = number | string;

export interface GraphNode {
  opType: string;
  name: string;
  inputs: readonly string[];
  outputs: readonly string[];
  attributes?: Record<string, AttributeValue>;
  /** '' (default ONNX domain) or 'com.microsoft' for ONNX Runtime contrib ops. */
  domain?: string;
}

export interface GraphInitializer {
  name: string;
  dims: readonly number[];
  /** float32 weights, int64 constants (split sizes, shapes), or uint8 (packed quantized weights, zero points). */
  data: Float32Array | BigInt64Array | Uint8Array;
}

export type AttributeValue = number | number[] | string | FloatAttribute | SubgraphAttribute;

export interface GraphSpec {
  name: string;
  inputs: readonly { name: string; dims: readonly Dimension[] }[];
  outputs: readonly { name: string; dims: readonly Dimension[] }[];
  nodes: readonly GraphNode[];
  initializers: readonly GraphInitializer[];
}

const FLOAT = onnx.TensorProto.DataType.FLOAT;

function floatValue(name: string, dims: readonly Dimension[]): onnxProto.onnx.IValueInfoProto {
  return {
    name,
    type: { tensorType: { elemType: FLOAT, shape: { dim: dims.map((dim) => (typeof dim === 'string' ? { dimParam: dim } : { dimValue: dim })) } } },
  };
}

/**
 * Attribute encoding: integers and integer lists are the common case in our graphs; a number with a fractional
 * part (epsilon) is a float. Use {@link floatAttribute} to force a float for whole-number floats.
 */
function attribute(name: string, value: AttributeValue): onnxProto.onnx.IAttributeProto {
  const types = onnx.AttributeProto.AttributeType;
  if (value instanceof FloatAttribute) return { name, type: types.FLOAT, f: value.value };
  if (value instanceof SubgraphAttribute) return { name, type: types.GRAPH, g: graphProto(value.graph) };
  if (typeof value === 'string') return { name, type: types.STRING, s: new TextEncoder().encode(value) };
  if (Array.isArray(value)) return { name, type: types.INTS, ints: value };
  if (Number.isInteger(value)) return { name, type: types.INT, i: value };
  return { name, type: types.FLOAT, f: value };
}

/** A float attribute whose value may be a whole number (e.g. scale = 1). */
export class FloatAttribute {
  constructor(readonly value: number) {}
}

export function floatAttribute(value: number): FloatAttribute {
  return new FloatAttribute(value);
}

/**
 * A graph-valued attribute (a branch of If): nodes that read values of the enclosing graph by name, and the float
 * outputs they hand back (no inputs of its own, as ONNX requires of If branches).
 */
export interface Subgraph {
  name: string;
  nodes: readonly GraphNode[];
  outputs: readonly { name: string; dims: readonly Dimension[] }[];
  initializers?: readonly GraphInitializer[];
}

export class SubgraphAttribute {
  constructor(readonly graph: Subgraph) {}
}

export function subgraphAttribute(graph: Subgraph): SubgraphAttribute {
  return new SubgraphAttribute(graph);
}

function graphProto(spec: GraphSpec | Subgraph): onnxProto.onnx.IGraphProto {
  return {
    name: spec.name,
    input: 'inputs' in spec ? spec.inputs.map((input) => floatValue(input.name, input.dims)) : [],
    output: spec.outputs.map((output) => floatValue(output.name, output.dims)),
    initializer: (spec.initializers ?? []).map((initializer) => ({
      name: initializer.name,
      dims: [...initializer.dims],
      dataType: initializer.data instanceof BigInt64Array ? onnx.TensorProto.DataType.INT64 : initializer.data instanceof Uint8Array ? onnx.TensorProto.DataType.UINT8 : FLOAT,
      // A view, not a copy: protobuf encoding copies it once into the model bytes.
      rawData: new Uint8Array(initializer.data.buffer, initializer.data.byteOffset, initializer.data.byteLength),
    })),
    node: spec.nodes.map((node) => ({
      name: node.name,
      opType: node.opType,
      domain: node.domain ?? '',
      input: [...node.inputs],
      output: [...node.outputs],
      attribute: Object.entries(node.attributes ?? {}).map(([name, value]) => attribute(name, value)),
    })),
  };
}

/** Every node of a graph, those inside its subgraphs included. */
const allNodes = (graph: GraphSpec | Subgraph): GraphNode[] =>
  graph.nodes.flatMap((node) => [node, ...Object.values(node.attributes ?? {}).flatMap((value) => (value instanceof SubgraphAttribute ? allNodes(value.graph) : []))]);

/** Serialize a graph spec into ONNX model bytes ready for an InferenceSession. */
export function encodeModel(spec: GraphSpec, opset = DEFAULT_OPSET): Uint8Array {
  const usesContrib = allNodes(spec).some((node) => node.domain === 'com.microsoft');
  const graph = graphProto(spec);
  const opsetImport = [{ domain: '', version: opset }, ...(usesContrib ? [{ domain: 'com.microsoft', version: 1 }] : [])];
  return onnx.ModelProto.encode({ irVersion: IR_VERSION, producerName: 'tome', opsetImport, graph }).finish();
}
