/**
 * Mixed precision on the torch engine, as torch.autocast and torch.cuda.amp.GradScaler do it:
 * - the forward pass (and the loss input) runs inside an autocast region: libtorch casts each op's inputs
 *   by its own per-op rules (convolutions and matmuls in bf16/fp16, reductions and norms as they allow),
 *   while the parameters, their gradients and the optimiser state stay float32;
 * - fp16 training multiplies the loss by a dynamic scale before backward, unscales the gradients, and
 *   skips the update when any of them is inf or NaN (halving the scale); after `growthInterval` good steps
 *   in a row the scale doubles. bf16 has float32's exponent range and needs no scaler.
 */
import type { WeightMap } from '../../arch/weights.js';
import type { AmpDtype, Precision } from '../types.js';
import { UsageError } from '../../util/errors.js';
import type { TorchAddon } from './native.js';
import { ops, Tensor } from './tensor.js';

/** The optimizer-state entry that holds an fp16 run's gradient scaler (checkpoints). */
export const SCALER_STATE_KEY = 'amp.grad_scaler';

/** torch.cuda.amp.GradScaler's defaults. */
export const GRAD_SCALER_DEFAULTS = { initScale: 2 ** 16, growthFactor: 2, backoffFactor: 0.5, growthInterval: 2000 } as const;

export interface GradScalerOptions {
  initScale: number;
  growthFactor: number;
  backoffFactor: number;
  growthInterval: number;
}

export interface GradScalerState {
  scale: number;
  /** good steps in a row since the scale last changed */
  growthTracker: number;
}

/** The scaler's bookkeeping (pure: no tensors). */
export class GradScaler {
  readonly opts: GradScalerOptions;
  #scale: number;
  #growth = 0;

  constructor(opts: Partial<GradScalerOptions> = {}) {
    this.opts = { ...GRAD_SCALER_DEFAULTS, ...opts };
    const o = this.opts;
    if (!(o.initScale > 0 && Number.isFinite(o.initScale))) throw new UsageError(`grad scaler initScale: expected > 0, got ${o.initScale}`);
    if (!(o.growthFactor > 1)) throw new UsageError(`grad scaler growthFactor: expected > 1, got ${o.growthFactor}`);
    if (!(o.backoffFactor > 0 && o.backoffFactor < 1))
      throw new UsageError(`grad scaler backoffFactor: expected in (0, 1), got ${o.backoffFactor}`);
    if (!(Number.isInteger(o.growthInterval) && o.growthInterval >= 1))
      throw new UsageError(`grad scaler growthInterval: expected an integer >= 1, got ${o.growthInterval}`);
    this.#scale = o.initScale;
  }

  get scale(): number {
    return this.#scale;
  }

  get state(): GradScalerState {
    return { scale: this.#scale, growthTracker: this.#growth };
  }

  set state(s: GradScalerState) {
    if (!(s.scale > 0 && Number.isFinite(s.scale)) || !(Number.isInteger(s.growthTracker) && s.growthTracker >= 0))
      throw new UsageError(`grad scaler state: expected scale > 0 and an integer growth tracker >= 0, got ${JSON.stringify(s)}`);
    this.#scale = s.scale;
    this.#growth = s.growthTracker;
  }

  /** After a step: an inf/NaN gradient backs the scale off (and the step was skipped); good steps grow it. */
  update(foundInf: boolean): void {
    if (foundInf) {
      this.#scale *= this.opts.backoffFactor;
      this.#growth = 0;
      return;
    }
    this.#growth++;
    if (this.#growth === this.opts.growthInterval) {
      this.#scale *= this.opts.growthFactor;
      this.#growth = 0;
    }
  }
}

/**
 * `--amp` as given (a dtype, or true for the flag alone) on a device -> the autocast dtype. The flag alone
 * takes autocast's own default dtype for the device type (torch.autocast: float16 on CUDA, bfloat16 on
 * the CPU; timm's `--amp` alone is float16). fp16 on the CPU is refused: libtorch 1.13's CPU autocast
 * only lowers to bfloat16.
 */
export function resolveAmp(amp: AmpDtype | true | undefined, device: string | undefined): AmpDtype | undefined {
  if (amp === undefined) return undefined;
  const cuda = /^\s*cuda/i.test(device ?? 'cpu');
  const dtype: AmpDtype = amp === true ? (cuda ? 'fp16' : 'bf16') : amp;
  if (dtype === 'fp16' && !cuda)
    throw new UsageError('--amp fp16: libtorch 1.13 has no float16 autocast on the CPU; use --amp bf16 there, or --device cuda');
  return dtype;
}

/** One compiled net's precision: its autocast region, loss input and (fp16) gradient scaler. */
export class AmpContext {
  readonly precision: Precision;
  readonly scaler: GradScaler | undefined;
  private readonly deviceType: 'cpu' | 'cuda';

  /** scaler: fp16 gets one by default; tests may force one on (e.g. at fp32 on the CPU) */
  constructor(
    private readonly a: TorchAddon,
    device: string,
    amp: AmpDtype | undefined,
    scaler?: GradScaler,
  ) {
    this.precision = amp ?? 'fp32';
    this.deviceType = device.startsWith('cuda') ? 'cuda' : 'cpu';
    if (amp === 'fp16' && this.deviceType === 'cpu') resolveAmp('fp16', device); // throws the one-line refusal
    this.scaler = scaler ?? (amp === 'fp16' ? new GradScaler() : undefined);
    if ((amp !== undefined || this.scaler) && typeof a.autocastEnter !== 'function')
      throw new UsageError('torch addon predates --amp (native/amp.cc): rebuild it with `node scripts/build-native.mjs`');
  }

  /** Run fn with autocast on (a no-op at fp32); the previous autocast state is restored afterwards. */
  autocast<T>(fn: () => T): T {
    if (this.precision === 'fp32') return fn();
    const a = this.a;
    const prev = a.autocastState!(this.deviceType);
    a.autocastEnter!(this.deviceType, this.precision);
    try {
      return fn();
    } finally {
      a.autocastExit!(this.deviceType, prev.enabled, prev.dtype);
    }
  }

  /** Logits as float32 for the loss (autocast's bf16/fp16 output; fp32 passes through). */
  lossInput(logits: Tensor): Tensor {
    return this.precision === 'fp32' ? logits : new Tensor(this.a.toFloat!(logits.h));
  }

  /** The scaler's state as an optimizer-state entry (checkpoints), when there is a scaler. */
  saveState(out: WeightMap): void {
    if (!this.scaler) return;
    const { scale, growthTracker } = this.scaler.state;
    out.set(SCALER_STATE_KEY, { shape: [2], data: Float32Array.of(scale, growthTracker) });
  }

  /** Take the scaler's entry out of an optimizer state (restoring it when this net has a scaler). */
  loadState(state: WeightMap): WeightMap {
    const t = state.get(SCALER_STATE_KEY);
    if (!t) return state;
    if (this.scaler) {
      if (t.data.length !== 2) throw new UsageError(`optimizer state: '${SCALER_STATE_KEY}' must hold [scale, growth_tracker]`);
      this.scaler.state = { scale: t.data[0]!, growthTracker: t.data[1]! };
    }
    const rest: WeightMap = new Map(state);
    rest.delete(SCALER_STATE_KEY);
    return rest;
  }

  /**
   * Backward through the loss, multiplied by the scaler's scale when there is one (fp16). Several calls
   * accumulate scaled gradients (--grad-accum-steps); unscaleAndCheck then runs once before the update.
   */
  scaledBackward(loss: Tensor): void {
    if (!this.scaler) loss.backward();
    else ops.mulScalar(loss, this.scaler.scale).backward();
  }

  /**
   * Before an update: unscale the accumulated gradients and check them (fp16). Returns false when the
   * update must be skipped (a gradient is inf or NaN); the scale is updated here. Without a scaler: true.
   */
  unscaleAndCheck(params: number[]): boolean {
    if (!this.scaler) return true;
    const foundInf = this.a.unscaleGrads!(params, 1 / this.scaler.scale);
    this.scaler.update(foundInf);
    return !foundInf;
  }
}
