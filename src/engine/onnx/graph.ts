/**
 * The IR -> ONNX compiler: one ONNX node (or a short fixed pattern) per IR node, opset 17, float32,
 * NCHW input `input` with a symbolic batch axis, output `logits` [batch, classes].
 *
 *   conv     Conv (pads on both sides, group)         bn       BatchNormalization with running stats
 *   gn       Reshape [N,G,-1] -> InstanceNormalization -> Reshape [N,C,H,W] -> Mul gamma -> Add beta
 *            (opset 17 has no GroupNormalization)
 *   relu, sigmoid  Relu, Sigmoid                      silu     x * Sigmoid(x)
 *   maxpool  MaxPool (floor mode)                     gap      GlobalAveragePool
 *   fc       Flatten -> Gemm (transB)                 add, mul Add, Mul (broadcast [N,C,1,1])
 *
 * Initialisers carry the timm state_dict names (`stem.conv.weight`, `s1.b1.conv1.bn.running_mean`, ...),
 * node names are the IR layer names, so an exported file reads like the PyTorch module.
 */
import { endianness } from 'node:os';
import type { Network, Node } from '../../arch/ir.js';
import { numel, paramSpecs } from '../../arch/params.js';
import type { WeightMap } from '../../arch/weights.js';
import { UsageError } from '../../util/errors.js';
import {
  AttrType,
  DataType,
  encodeModel,
  type AttributeProto,
  type ModelProto,
  type NodeProto,
  type TensorProto,
  type ValueInfoProto,
} from './proto.js';

export const OPSET = 17;
/** IR version 8 is the one opset 17 belongs to (ONNX 1.12). */
export const IR_VERSION = 8;
export const INPUT_NAME = 'input';
export const OUTPUT_NAME = 'logits';
export const BATCH_DIM = 'batch';

export interface OnnxExportOptions {
  /** model-level doc string (a human summary) */
  docString?: string;
  /** metadata_props, e.g. architecture and preprocessing as JSON */
  metadata?: Record<string, string>;
  producerVersion?: string;
}

function attrInt(name: string, i: number): AttributeProto {
  return { name, type: AttrType.INT, i };
}
function attrInts(name: string, ints: number[]): AttributeProto {
  return { name, type: AttrType.INTS, ints };
}
function attrFloat(name: string, f: number): AttributeProto {
  return { name, type: AttrType.FLOAT, f };
}

/** Little-endian bytes of a float32 array (a view when the host is little-endian). */
function f32Bytes(data: Float32Array): Uint8Array {
  if (endianness() === 'LE') return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  const out = new Uint8Array(data.length * 4);
  const dv = new DataView(out.buffer);
  for (let i = 0; i < data.length; i++) dv.setFloat32(i * 4, data[i]!, true);
  return out;
}

function i64Bytes(values: number[]): Uint8Array {
  const out = new Uint8Array(values.length * 8);
  const dv = new DataView(out.buffer);
  values.forEach((v, i) => dv.setBigInt64(i * 8, BigInt(v), true));
  return out;
}

function valueInfo(name: string, dims: Array<number | string>): ValueInfoProto {
  return {
    name,
    type: {
      tensor_type: {
        elem_type: DataType.FLOAT,
        shape: { dim: dims.map((d) => (typeof d === 'string' ? { dim_param: d } : { dim_value: d })) },
      },
    },
  };
}

/** Check that `weights` has every parameter of `net` with its shape; returns them in paramSpecs order. */
export function checkedWeights(net: Network, weights: WeightMap): WeightMap {
  const out: WeightMap = new Map();
  for (const s of paramSpecs(net)) {
    const w = weights.get(s.name);
    if (!w) throw new UsageError(`weights: '${s.name}' is missing for ${net.name}`);
    if (w.shape.length !== s.shape.length || w.shape.some((d, i) => d !== s.shape[i]) || w.data.length !== numel(s.shape)) {
      throw new UsageError(`weights: '${s.name}' has shape [${w.shape.join(', ')}], expected [${s.shape.join(', ')}]`);
    }
    out.set(s.name, w);
  }
  return out;
}

class GraphEmitter {
  readonly nodes: NodeProto[] = [];
  readonly initializers: TensorProto[] = [];
  private readonly names = new Set<string>();

  constructor(private readonly weights: WeightMap) {}

  /** A fresh value name (suffixing when taken). */
  fresh(base: string): string {
    let name = base;
    for (let i = 1; this.names.has(name); i++) name = `${base}_${i}`;
    this.names.add(name);
    return name;
  }

  node(op: string, inputs: string[], output: string, attrs: AttributeProto[] = [], name = output): string {
    this.nodes.push({ name, op_type: op, input: inputs, output: [output], attribute: attrs });
    return output;
  }

  /** A weight as an initialiser, optionally viewed with another shape of the same size. */
  weight(name: string, dims?: number[]): string {
    const w = this.weights.get(name);
    if (!w) throw new UsageError(`weights: '${name}' is missing`);
    const shape = dims ?? w.shape;
    if (numel(shape) !== w.data.length) throw new Error(`${name}: cannot view ${w.data.length} values as [${shape.join(', ')}]`);
    if (this.names.has(name)) throw new Error(`${name}: used twice as an ONNX name`);
    this.names.add(name);
    this.initializers.push({ name, dims: shape, data_type: DataType.FLOAT, raw_data: f32Bytes(w.data) });
    return name;
  }

  constF32(base: string, dims: number[], data: Float32Array): string {
    const name = this.fresh(base);
    this.initializers.push({ name, dims, data_type: DataType.FLOAT, raw_data: f32Bytes(data) });
    return name;
  }

  constI64(base: string, values: number[]): string {
    const name = this.fresh(base);
    this.initializers.push({ name, dims: [values.length], data_type: DataType.INT64, raw_data: i64Bytes(values) });
    return name;
  }
}

/** The ONNX graph of `net` with `weights` (complete, shapes checked). */
export function buildOnnxModel(net: Network, weights: WeightMap, o: OnnxExportOptions = {}): ModelProto {
  const w = checkedWeights(net, weights);
  const g = new GraphEmitter(w);
  const input = net.nodes[0];
  if (!input || input.op !== 'input') throw new Error(`${net.name}: node 0 must be the input`);
  const [c, h, wd] = input.out;
  g.fresh(INPUT_NAME);
  g.fresh(OUTPUT_NAME);
  /** ONNX value of each IR node, and whether it is rank 2 ([N, K] from Gemm) rather than NCHW */
  const val: string[] = new Array(net.nodes.length);
  const rank2: boolean[] = new Array(net.nodes.length).fill(false);
  val[0] = INPUT_NAME;

  const nchw = (id: number): string => {
    if (!rank2[id]) return val[id]!;
    const k = net.nodes[id]!.out[0];
    return g.node('Reshape', [val[id]!, g.constI64(`${val[id]}.shape4d`, [0, k, 1, 1])], g.fresh(`${val[id]}.nchw`));
  };

  for (let i = 1; i < net.nodes.length; i++) {
    const n = net.nodes[i]!;
    const isOut = i === net.output;
    // the output gets its final name directly when it is already [N, K]
    const outName = (base: string, r2: boolean) => (isOut && r2 ? OUTPUT_NAME : g.fresh(base));
    switch (n.op) {
      case 'input':
        throw new Error(`${net.name}: input node at ${i}`);
      case 'conv': {
        const ins = [nchw(n.input), g.weight(`${n.name}.weight`)];
        if (n.bias) ins.push(g.weight(`${n.name}.bias`));
        val[i] = g.node('Conv', ins, outName(n.name, false), [
          attrInts('kernel_shape', [n.k, n.k]),
          attrInts('strides', [n.stride, n.stride]),
          attrInts('pads', [n.pad, n.pad, n.pad, n.pad]),
          attrInts('dilations', [1, 1]),
          attrInt('group', n.groups),
        ]);
        break;
      }
      case 'bn':
        val[i] = g.node(
          'BatchNormalization',
          [
            nchw(n.input),
            g.weight(`${n.name}.weight`),
            g.weight(`${n.name}.bias`),
            g.weight(`${n.name}.running_mean`),
            g.weight(`${n.name}.running_var`),
          ],
          outName(n.name, false),
          // ONNX momentum weighs the running value (PyTorch's weighs the batch); inference ignores it
          [attrFloat('epsilon', n.eps), attrFloat('momentum', 1 - n.momentum)],
        );
        break;
      case 'gn': {
        const [ch, hh, ww] = n.out;
        const x = nchw(n.input);
        const grouped = g.node('Reshape', [x, g.constI64(`${n.name}.group_shape`, [0, n.groups, -1])], g.fresh(`${n.name}.grouped`));
        const normed = g.node(
          'InstanceNormalization',
          [
            grouped,
            g.constF32(`${n.name}.ones`, [n.groups], new Float32Array(n.groups).fill(1)),
            g.constF32(`${n.name}.zeros`, [n.groups], new Float32Array(n.groups)),
          ],
          g.fresh(`${n.name}.normed`),
          [attrFloat('epsilon', n.eps)],
        );
        const back = g.node('Reshape', [normed, g.constI64(`${n.name}.shape`, [0, ch, hh, ww])], g.fresh(`${n.name}.ungrouped`));
        const scaled = g.node('Mul', [back, g.weight(`${n.name}.weight`, [ch, 1, 1])], g.fresh(`${n.name}.scaled`));
        val[i] = g.node('Add', [scaled, g.weight(`${n.name}.bias`, [ch, 1, 1])], outName(n.name, false));
        break;
      }
      case 'relu':
        val[i] = g.node('Relu', [nchw(n.input)], outName(`relu_${i}`, false));
        break;
      case 'sigmoid':
        val[i] = g.node('Sigmoid', [nchw(n.input)], outName(`sigmoid_${i}`, false));
        break;
      case 'silu': {
        const x = nchw(n.input);
        const s = g.node('Sigmoid', [x], g.fresh(`silu_${i}.sigmoid`));
        val[i] = g.node('Mul', [x, s], outName(`silu_${i}`, false));
        break;
      }
      case 'maxpool':
        val[i] = g.node('MaxPool', [nchw(n.input)], outName(`maxpool_${i}`, false), [
          attrInts('kernel_shape', [n.k, n.k]),
          attrInts('strides', [n.stride, n.stride]),
          attrInts('pads', [n.pad, n.pad, n.pad, n.pad]),
        ]);
        break;
      case 'avgpool':
        // ONNX's divisor rules match PyTorch's: count_include_pad counts the zero padding, never the ceil overhang
        val[i] = g.node('AveragePool', [nchw(n.input)], outName(`avgpool_${i}`, false), [
          attrInts('kernel_shape', [n.k, n.k]),
          attrInts('strides', [n.stride, n.stride]),
          attrInts('pads', [n.pad, n.pad, n.pad, n.pad]),
          attrInt('ceil_mode', n.ceil ? 1 : 0),
          attrInt('count_include_pad', n.countIncludePad ? 1 : 0),
        ]);
        break;
      case 'gap':
        val[i] = g.node('GlobalAveragePool', [nchw(n.input)], outName(`gap_${i}`, false));
        break;
      case 'fc': {
        const x = rank2[n.input] ? val[n.input]! : g.node('Flatten', [val[n.input]!], g.fresh(`${n.name}.flat`), [attrInt('axis', 1)]);
        const ins = [x, g.weight(`${n.name}.weight`)];
        if (n.bias) ins.push(g.weight(`${n.name}.bias`));
        val[i] = g.node('Gemm', ins, outName(n.name, true), [attrInt('transB', 1)]);
        rank2[i] = true;
        break;
      }
      case 'add':
        val[i] = g.node('Add', [nchw(n.inputs[0]), nchw(n.inputs[1])], outName(`add_${i}`, false));
        break;
      case 'mul':
        val[i] = g.node('Mul', [nchw(n.inputs[0]), nchw(n.inputs[1])], outName(`mul_${i}`, false));
        break;
      default: {
        const never: never = n;
        throw new Error(`unsupported IR op ${(never as Node).op}`);
      }
    }
  }
  if (val[net.output] !== OUTPUT_NAME) {
    // an NCHW [N, K, 1, 1] network output
    g.node('Flatten', [val[net.output]!], OUTPUT_NAME, [attrInt('axis', 1)]);
  }
  return {
    ir_version: IR_VERSION,
    opset_import: [{ domain: '', version: OPSET }],
    producer_name: 'regnet',
    producer_version: o.producerVersion ?? '',
    doc_string: o.docString ?? '',
    graph: {
      name: net.name,
      node: g.nodes,
      initializer: g.initializers,
      input: [valueInfo(INPUT_NAME, [BATCH_DIM, c, h, wd])],
      output: [valueInfo(OUTPUT_NAME, [BATCH_DIM, net.numClasses])],
      doc_string: o.docString ?? '',
    },
    metadata_props: Object.entries(o.metadata ?? {}).map(([key, value]) => ({ key, value })),
  };
}

/** buildOnnxModel, serialised. */
export function compileOnnx(net: Network, weights: WeightMap, o: OnnxExportOptions = {}): Uint8Array {
  return encodeModel(buildOnnxModel(net, weights, o));
}
