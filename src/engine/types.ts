/**
 * The contract every engine implements (tfjs on wasm/cpu/tfjs-node(-gpu), torch through the addon).
 * Trainer, bench, predict and eval only talk to these interfaces.
 */
import type { Network } from '../arch/ir.js';
import type { WeightMap } from '../arch/weights.js';

export type EngineName = 'torch' | 'onnx' | 'tfjs-gpu' | 'tfjs-node' | 'wasm' | 'cpu';
export const ENGINE_CHOICES = ['auto', 'torch', 'onnx', 'tfjs-gpu', 'tfjs-node', 'wasm', 'cpu'] as const;
export type EngineChoice = (typeof ENGINE_CHOICES)[number];

/** Mixed-precision dtypes (torch engine, `--amp`): autocast to this dtype, master weights stay float32. */
export const AMP_DTYPES = ['bf16', 'fp16'] as const;
export type AmpDtype = (typeof AMP_DTYPES)[number];
/** What a run computed in: float32, or autocast mixed precision with bf16 or fp16. */
export type Precision = 'fp32' | AmpDtype;
/** Activation and conv-weight memory format: NCHW (contiguous) or NHWC (channels last). */
export type Layout = 'nchw' | 'nhwc';

export interface EngineOptions {
  /** worker threads for the engine's kernels (torch); default: all cores */
  threads?: number;
  /** 'cpu', 'cuda', 'cuda:1' (torch) */
  device?: string;
  /** mixed precision (torch only): autocast to bf16 or fp16; fp16 trains with a dynamic gradient scaler */
  amp?: AmpDtype;
  /** NHWC memory format for inputs, activations and conv weights (torch only) */
  channelsLast?: boolean;
}

export interface EngineInfo {
  engine: EngineName;
  threads: number;
  device: string;
  /** e.g. tfjs 4.22.0 / libtorch 1.13.1 */
  version: string;
  /** absent: fp32 (engines without mixed precision) */
  precision?: Precision;
  /** absent: nchw */
  layout?: Layout;
}

/** The precision and layout an engine runs at (fp32 NCHW unless it says otherwise). */
export function numerics(info: EngineInfo): { precision: Precision; layout: Layout } {
  return { precision: info.precision ?? 'fp32', layout: info.layout ?? 'nchw' };
}

export interface SgdOptions {
  lr: number;
  momentum: number;
  nesterov: boolean;
  /** applied to the params whose ParamSpec.decay is true (conv and fc weights by default) */
  weightDecay: number;
  labelSmoothing: number;
}

export interface StepResult {
  /** mean loss over the batch */
  loss: number;
  /** number of samples whose arg-max equals the label */
  correct: number;
  /** fp16 with a gradient scaler: the gradients held inf/NaN, so the update was skipped (scale halved) */
  skipped?: boolean;
}

/**
 * A network compiled for one engine (onnx is inference-only: its training methods throw a UsageError). Inputs are NCHW float32 (already normalised), n samples of
 * the Network's [inChans, h, w]. Logits come back as n x numClasses row-major.
 */
export interface CompiledNet {
  readonly net: Network;
  /** eval mode (running BN statistics), no gradient */
  predict(input: Float32Array, n: number): Float32Array;
  /** one SGD step in train mode (batch statistics, running stats updated) */
  trainStep(input: Float32Array, labels: Int32Array, n: number, opt: SgdOptions): StepResult;
  /** loss and d(loss)/d(param) in train mode without updating anything (for engine-agreement tests) */
  lossAndGrads(input: Float32Array, labels: Int32Array, n: number, labelSmoothing: number): { loss: number; grads: WeightMap };
  /** all learned parameters and BN buffers, timm names, PyTorch layouts */
  getWeights(): WeightMap;
  /** load (a subset of) weights; shapes must match */
  setWeights(w: WeightMap): void;
  /** momentum buffers keyed by param name (for checkpoints) */
  getOptimizerState(): WeightMap;
  setOptimizerState(s: WeightMap): void;
  /** number of learned parameters actually allocated */
  paramCount(): number;
  dispose(): void;
}

export interface Engine {
  readonly info: EngineInfo;
  /** build the network; weights from `init` (timm names) or the engine's own seeded init when absent */
  compile(net: Network, init?: WeightMap): CompiledNet;
  /** release the backend (threads, memory) */
  close?(): void;
}
