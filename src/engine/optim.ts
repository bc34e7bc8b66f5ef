/**
 * What both training engines share around a step: the soft-target checks, and AdamW on host arrays
 * (one implementation, so torch and tfjs update identically; the torch addon has no AdamW kernel).
 */
import { UsageError } from '../util/errors.js';
import type { AdamWOptions, MixedTarget, OptimizerOptions, Target } from './types.js';

/** A target as label sets and weights, checked against the batch size and the class count. */
export function mixedTarget(target: Target, n: number, numClasses: number): MixedTarget {
  const t: MixedTarget = target instanceof Int32Array ? { labels: [target], weights: [1] } : target;
  if (t.labels.length < 1 || t.labels.length !== t.weights.length)
    throw new UsageError(`target: ${t.labels.length} label sets for ${t.weights.length} weights`);
  let sum = 0;
  for (const w of t.weights) {
    if (!(Number.isFinite(w) && w >= 0)) throw new UsageError(`target: weight ${w} is not a number >= 0`);
    sum += w;
  }
  if (Math.abs(sum - 1) > 1e-6) throw new UsageError(`target: weights sum to ${sum}, expected 1`);
  for (const labels of t.labels) {
    if (labels.length !== n) throw new UsageError(`labels: expected ${n}, got ${labels.length}`);
    for (const l of labels) if (!(l >= 0 && l < numClasses)) throw new UsageError(`labels: ${l} is outside 0..${numClasses - 1}`);
  }
  return t;
}

/** The label set with the largest weight (the first on ties): what train accuracy counts against. */
export function dominantLabels(t: MixedTarget): Int32Array {
  let best = 0;
  for (let j = 1; j < t.weights.length; j++) if (t.weights[j]! > t.weights[best]!) best = j;
  return t.labels[best]!;
}

export function checkOptimizer(opt: OptimizerOptions): void {
  const fields = opt.optimizer === 'adamw' ? (['lr', 'weightDecay', 'eps'] as const) : (['lr', 'momentum', 'weightDecay'] as const);
  for (const k of fields) {
    const v = (opt as unknown as Record<string, number>)[k]!;
    if (!Number.isFinite(v) || v < 0) throw new UsageError(`${opt.optimizer ?? 'sgd'} ${k}: expected a finite number >= 0, got ${v}`);
  }
  if (opt.optimizer === 'adamw') {
    for (const k of ['beta1', 'beta2'] as const)
      if (!(opt[k] >= 0 && opt[k] < 1)) throw new UsageError(`adamw ${k}: expected a number in [0, 1), got ${opt[k]}`);
  }
  if (!(opt.labelSmoothing >= 0 && opt.labelSmoothing < 1))
    throw new UsageError(`labelSmoothing: expected a number in [0, 1), got ${opt.labelSmoothing}`);
}

/**
 * AdamW state and update on float32 arrays in the engine's own layout (the update is elementwise), as
 * torch.optim.AdamW computes it: p *= 1 - lr*wd (decay params only); m = b1 m + (1-b1) g;
 * v = b2 v + (1-b2) g^2; p -= lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps).
 */
export class AdamWState {
  step = 0;
  readonly expAvg = new Map<string, Float32Array>();
  readonly expAvgSq = new Map<string, Float32Array>();

  /** Count one update; call once per applyUpdate before update() of each parameter. */
  begin(): void {
    this.step++;
  }

  /** Update `w` in place from the gradient `g`. */
  update(name: string, w: Float32Array, g: Float32Array, decay: boolean, opt: AdamWOptions): void {
    let m = this.expAvg.get(name);
    let v = this.expAvgSq.get(name);
    if (!m || !v) {
      m = new Float32Array(w.length);
      v = new Float32Array(w.length);
      this.expAvg.set(name, m);
      this.expAvgSq.set(name, v);
    }
    const { lr, beta1: b1, beta2: b2, eps } = opt;
    const shrink = decay ? 1 - lr * opt.weightDecay : 1;
    const stepSize = lr / (1 - Math.pow(b1, this.step));
    const bc2Sqrt = Math.sqrt(1 - Math.pow(b2, this.step));
    for (let i = 0; i < w.length; i++) {
      const gi = g[i]!;
      const mi = (m[i] = b1 * m[i]! + (1 - b1) * gi);
      const vi = (v[i] = b2 * v[i]! + (1 - b2) * gi * gi);
      w[i] = w[i]! * shrink - (stepSize * mi) / (Math.sqrt(vi) / bc2Sqrt + eps);
    }
  }

  /** The checkpoint form (see CompiledNet.getOptimizerState); `layout` maps engine layout -> PyTorch's. */
  save(layout: (name: string, data: Float32Array) => { shape: number[]; data: Float32Array }) {
    const out = new Map<string, { shape: number[]; data: Float32Array }>();
    for (const [name, m] of this.expAvg) {
      out.set(`exp_avg.${name}`, layout(name, m));
      out.set(`exp_avg_sq.${name}`, layout(name, this.expAvgSq.get(name)!));
    }
    out.set('adamw.step', { shape: [1], data: Float32Array.of(this.step) });
    return out;
  }
}

/** Is this saved optimizer state AdamW's? */
export function isAdamWState(s: Map<string, unknown>): boolean {
  return s.has('adamw.step');
}

/**
 * Load a saved AdamW state: `param(name)` checks the name (throws) and converts PyTorch layout -> engine
 * layout.
 */
export function loadAdamWState(
  s: Map<string, { shape: number[]; data: Float32Array }>,
  param: (name: string, t: { shape: number[]; data: Float32Array }) => Float32Array,
): AdamWState {
  const st = new AdamWState();
  for (const [key, t] of s) {
    if (key === 'adamw.step') {
      st.step = t.data[0]!;
      continue;
    }
    const m = /^(exp_avg|exp_avg_sq)\.(.+)$/.exec(key);
    if (!m) throw new UsageError(`optimizer state: '${key}' is not an AdamW state entry (exp_avg.<param>, exp_avg_sq.<param>, adamw.step)`);
    (m[1] === 'exp_avg' ? st.expAvg : st.expAvgSq).set(m[2]!, param(m[2]!, t));
  }
  for (const name of st.expAvg.keys()) if (!st.expAvgSq.has(name)) throw new UsageError(`optimizer state: exp_avg_sq.${name} is missing`);
  return st;
}
