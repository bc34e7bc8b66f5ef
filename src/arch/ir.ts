/**
 * The architecture IR: a network as data.
 *
 * A Network is a list of nodes in topological order; node `id` equals its index and inputs refer to
 * earlier ids. Shapes are per-sample [channels, height, width] (no batch). Layer names are the
 * pytorch-image-models state_dict prefixes (`stem.conv`, `s1.b1.conv2.bn`, `layer2.0.downsample.0`,
 * `head.fc`, `fc`), so weights map one to one onto timm checkpoints. The complexity counter, the
 * weight initialiser and every engine read this one description: what we count is what we run.
 */
import type { ModelFamily, ModelSpec } from './spec.js';

export type Shape = [c: number, h: number, w: number];

interface NodeBase {
  id: number;
  out: Shape;
}

export interface InputNode extends NodeBase {
  op: 'input';
}

/** 2-D convolution; weight `${name}.weight` is OIHW [cout, cin/groups, k, k]; `${name}.bias` when bias. */
export interface ConvNode extends NodeBase {
  op: 'conv';
  name: string;
  input: number;
  in: Shape;
  cin: number;
  cout: number;
  k: number;
  stride: number;
  /** symmetric zero padding on each side */
  pad: number;
  groups: number;
  bias: boolean;
}

/** BatchNorm2d: learned `${name}.weight`/`.bias`, buffers `.running_mean`/`.running_var`. */
export interface BatchNormNode extends NodeBase {
  op: 'bn';
  name: string;
  input: number;
  channels: number;
  eps: number;
  /** PyTorch convention: running = (1 - momentum) * running + momentum * batch */
  momentum: number;
  /** last norm of a residual branch: gamma starts at 0 */
  zeroInit: boolean;
}

/** GroupNorm (timm's regnety_040_sgn): learned `${name}.weight`/`.bias`, no buffers. */
export interface GroupNormNode extends NodeBase {
  op: 'gn';
  name: string;
  input: number;
  channels: number;
  groups: number;
  eps: number;
  zeroInit: boolean;
}

export interface ActNode extends NodeBase {
  op: 'relu' | 'sigmoid' | 'silu';
  input: number;
}

export interface MaxPoolNode extends NodeBase {
  op: 'maxpool';
  input: number;
  in: Shape;
  k: number;
  stride: number;
  pad: number;
}

/**
 * Average pool over k x k windows (the ResNet-D shortcut: k 2, stride 2, ceil mode, padding excluded).
 * Output size as PyTorch's AvgPool2d computes it (`poolOut`). Each output is the sum of its window's
 * inputs divided by the window's cells inside the zero-padded input (countIncludePad) or inside the
 * input itself (not countIncludePad); a ceil-mode window that overhangs the padded input is cut there.
 */
export interface AvgPoolNode extends NodeBase {
  op: 'avgpool';
  input: number;
  in: Shape;
  k: number;
  stride: number;
  /** symmetric zero padding on each side */
  pad: number;
  ceil: boolean;
  countIncludePad: boolean;
}

/** Global average pool: [c, h, w] -> [c, 1, 1]. */
export interface GlobalAvgPoolNode extends NodeBase {
  op: 'gap';
  input: number;
  in: Shape;
}

/** Fully connected on a [cin, 1, 1] input; weight `${name}.weight` [cout, cin], bias `${name}.bias`. */
export interface FcNode extends NodeBase {
  op: 'fc';
  name: string;
  input: number;
  cin: number;
  cout: number;
  bias: boolean;
}

/** Elementwise sum of two equal shapes (residual). */
export interface AddNode extends NodeBase {
  op: 'add';
  /** [residual branch, shortcut]: drop-path (arch/drop-path.ts) acts on the first */
  inputs: [number, number];
  /** drop-path rate of this block as a fraction of the network's rate (default: arch/drop-path.ts) */
  dropPathScale?: number;
}

/** x [c, h, w] times gate [c, 1, 1], broadcast over h, w (squeeze-excitation). */
export interface MulNode extends NodeBase {
  op: 'mul';
  inputs: [number, number];
}

export type Node =
  | InputNode
  | ConvNode
  | BatchNormNode
  | GroupNormNode
  | ActNode
  | MaxPoolNode
  | AvgPoolNode
  | GlobalAvgPoolNode
  | FcNode
  | AddNode
  | MulNode;

export type NodeOp = Node['op'];

/** One stage of the body, for tables and CSVs (not needed to run the network). */
export interface StageInfo {
  name: string;
  width: number;
  depth: number;
  stride: number;
  /** bottleneck (3x3 conv) width */
  bottleneckWidth: number;
  groupWidth: number;
  groups: number;
  /** squeeze-excitation width of the first block (0 when none) */
  seWidth: number;
}

export interface Network {
  /** zoo name, or a synthetic name for a parameterised model */
  name: string;
  family: ModelFamily;
  spec: ModelSpec;
  inChans: number;
  numClasses: number;
  /** input height, width */
  res: [number, number];
  stem: 'imagenet' | 'small';
  nodes: Node[];
  /** id of the logits node */
  output: number;
  stages: StageInfo[];
}

/** Output size of a conv/pool along one axis (PyTorch floor convention). */
export function convOut(size: number, k: number, stride: number, pad: number): number {
  return Math.floor((size + 2 * pad - k) / stride) + 1;
}

/**
 * Output size of a pool along one axis as PyTorch computes it: floor or ceil of (size + 2 pad - k) / stride,
 * plus one; in ceil mode the last window must start inside the input or its left padding.
 */
export function poolOut(size: number, k: number, stride: number, pad: number, ceil: boolean): number {
  if (!ceil) return convOut(size, k, stride, pad);
  let out = Math.ceil((size + 2 * pad - k) / stride) + 1;
  if ((out - 1) * stride >= size + pad) out--;
  return out;
}

/**
 * The divisor of each output position of an avgpool along one axis (its window's cells that count),
 * PyTorch's rule: the window [o*stride - pad, o*stride - pad + k) is cut at size + pad; padding counts
 * only when countIncludePad. The 2-D divisor is the product of the two axes'.
 */
export function poolDivisors(size: number, n: Pick<AvgPoolNode, 'k' | 'stride' | 'pad' | 'ceil' | 'countIncludePad'>): number[] {
  const out = poolOut(size, n.k, n.stride, n.pad, n.ceil);
  return Array.from({ length: out }, (_, o) => {
    const start = o * n.stride - n.pad;
    const end = Math.min(start + n.k, size + n.pad);
    return n.countIncludePad ? end - start : Math.min(end, size) - Math.max(start, 0);
  });
}
