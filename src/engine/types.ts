/**
 * The contract every engine implements (tfjs on wasm/cpu/tfjs-node(-gpu), torch through the addon).
 * Trainer, bench, predict and eval only talk to these interfaces.
 */
import type { Network } from '../arch/ir.js';
import type { WeightMap } from '../arch/weights.js';

export type EngineName = 'torch' | 'onnx' | 'tfjs-gpu' | 'tfjs-node' | 'wasm' | 'cpu';
export const ENGINE_CHOICES = ['auto', 'torch', 'onnx', 'tfjs-gpu', 'tfjs-node', 'wasm', 'cpu'] as const;
export type EngineChoice = (typeof ENGINE_CHOICES)[number];

/** One process's place in a data-parallel job (torch engine; see src/engine/torch/dist.ts). */
export interface DistributedSpec {
  rank: number;
  world: number;
  /** rank on this node (picks cuda:LOCAL_RANK) */
  localRank: number;
  /** ranks on this node (divides the cores between them) */
  localWorld: number;
  masterAddr: string;
  masterPort: number;
  /** where the spec came from, for messages: 'torchrun', 'slurm', 'launcher' */
  source: string;
}

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
  /**
   * data-parallel (torch): join this process group; compiled nets start from rank 0's weights and
   * trainStep sums the ranks' weighted gradients before the update
   */
  distributed?: DistributedSpec;
  /** data-parallel (torch): BatchNorm layers normalise with the statistics of the global batch (all ranks) */
  syncBatchNorm?: boolean;
}

/** Collectives over the ranks of a data-parallel engine (issued in the same order on every rank). */
export interface Collectives {
  readonly rank: number;
  readonly world: number;
  /** element-wise sums over ranks */
  allreduceSum(values: ArrayLike<number>): Float64Array;
  barrier(): void;
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

/** Stochastic depth in a training forward pass (arch/drop-path.ts): network rate and the seed of this pass's masks. */
export interface DropPathOptions {
  rate: number;
  seed: number;
}

/** What shapes the loss and the forward pass of a training step (not the update). */
export interface LossOptions {
  labelSmoothing: number;
  /** stochastic depth on the residual branches; absent or rate 0: none */
  dropPath?: DropPathOptions;
}

export interface SgdOptions extends LossOptions {
  optimizer?: 'sgd';
  lr: number;
  momentum: number;
  nesterov: boolean;
  /** applied to the params whose ParamSpec.decay is true (conv and fc weights by default) */
  weightDecay: number;
  /**
   * data-parallel: this rank's share of the global batch (its samples / the global batch's); the
   * gradients of all ranks, each weighted by its share, are summed before the update (default 1/world)
   */
  gradScale?: number;
}

/** torch.optim.AdamW: decoupled weight decay (p -= lr * wd * p) on the decay params only. */
export interface AdamWOptions extends LossOptions {
  optimizer: 'adamw';
  lr: number;
  weightDecay: number;
  beta1: number;
  beta2: number;
  eps: number;
  /**
   * data-parallel: this rank's share of the global batch (its samples / the global batch's); the
   * gradients of all ranks, each weighted by its share, are summed before the update (default 1/world)
   */
  gradScale?: number;
}

export type OptimizerOptions = SgdOptions | AdamWOptions;

/** torch.optim.AdamW's defaults. */
export const ADAMW_DEFAULTS = { beta1: 0.9, beta2: 0.999, eps: 1e-8 } as const;

/**
 * A soft target that mixes hard labels: sample i's target is sum_j weights[j] * onehot(labels[j][i]),
 * label-smoothed as a whole (timm's mixup_target: batch-mode mixup and cutmix give two label sets,
 * the labels and the flipped labels, with weights lam and 1 - lam). Weights are >= 0 and sum to 1.
 * Cross-entropy is linear in the target, so the loss is sum_j weights[j] * CE(logits, labels[j]).
 */
export interface MixedTarget {
  labels: Int32Array[];
  weights: number[];
}

/** Hard labels, or a mixture of label sets (a probability target). */
export type Target = Int32Array | MixedTarget;

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
  /**
   * One optimiser step in train mode (batch statistics, running stats updated); data-parallel: n may be 0 (a
   * rank without samples in a short last batch still joins the gradient sum):
   * accumulateGrads(input, target, n, opt) then applyUpdate(opt).
   */
  trainStep(input: Float32Array, target: Target, n: number, opt: OptimizerOptions): StepResult;
  /**
   * Forward and backward of one (micro-)batch in train mode (running stats updated): adds
   * lossScale * d(loss)/d(param) to the pending gradients (lossScale default 1). Several calls before
   * one applyUpdate accumulate gradients (--grad-accum-steps).
   */
  accumulateGrads(
    input: Float32Array,
    target: Target,
    n: number,
    opt: LossOptions & { lossScale?: number; gradScale?: number },
  ): StepResult;
  /**
   * The optimiser step on the pending gradients (SGD or AdamW, opt.optimizer), which it then clears;
   * data-parallel: the ranks' gradients, each weighted by opt.gradScale, are summed first.
   */
  applyUpdate(opt: OptimizerOptions): void;
  /** loss and d(loss)/d(param) in train mode without updating anything (for engine-agreement tests) */
  lossAndGrads(
    input: Float32Array,
    target: Target,
    n: number,
    labelSmoothing: number,
    dropPath?: DropPathOptions,
  ): { loss: number; grads: WeightMap };
  /** all learned parameters and BN buffers, timm names, PyTorch layouts */
  getWeights(): WeightMap;
  /** load (a subset of) weights; shapes must match */
  setWeights(w: WeightMap): void;
  /**
   * Optimiser state for checkpoints, PyTorch layouts: SGD momentum buffers keyed by param name; AdamW
   * `exp_avg.<param>`, `exp_avg_sq.<param>` and `adamw.step` (a [1] tensor: updates done).
   */
  getOptimizerState(): WeightMap;
  setOptimizerState(s: WeightMap): void;
  /** data-parallel: rank 0's non-trainable buffers (BN running statistics) into every rank's */
  syncBuffers?(): void;
  /** number of learned parameters actually allocated */
  paramCount(): number;
  dispose(): void;
}

export interface Engine {
  readonly info: EngineInfo;
  /** build the network; weights from `init` (timm names) or the engine's own seeded init when absent */
  compile(net: Network, init?: WeightMap): CompiledNet;
  /** data-parallel engines: the process group's collectives */
  readonly collectives?: Collectives;
  /** release the backend (threads, memory; leaves a process group) */
  close?(): void;
}
