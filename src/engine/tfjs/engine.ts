/**
 * The tfjs engine: compiles the IR (src/arch/ir.ts) into a tfjs network on wasm (default), the pure-JS
 * cpu backend, or tfjs-node(-gpu) where installed. Implements Engine/CompiledNet (src/engine/types.ts).
 */
import * as tf from '@tensorflow/tfjs';
import type { Network } from '../../arch/ir.js';
import { initWeights } from '../../arch/init.js';
import { numel, paramSpecs, type ParamSpec } from '../../arch/params.js';
import type { WeightMap, WeightTensor } from '../../arch/weights.js';
import { UsageError } from '../../util/errors.js';
import { dropPathMasks, dropPathRates } from '../../arch/drop-path.js';
import { AdamWState, checkOptimizer, dominantLabels, isAdamWState, loadAdamWState, mixedTarget } from '../optim.js';
import type {
  CompiledNet,
  DropPathOptions,
  Engine,
  EngineInfo,
  EngineOptions,
  LossOptions,
  OptimizerOptions,
  StepResult,
  Target,
} from '../types.js';
import { loadTfjsBackend, useBackend, type TfjsKind } from './backend.js';
import type { GroupConvChoice } from './groupconv.js';
import { forward, softCrossEntropy, type BatchStats, type ForwardContext, type Mode } from './net.js';

export interface TfjsEngineOptions extends EngineOptions {
  /** grouped-conv formulation; 'auto' picks per shape (default; env REGNET_TFJS_GROUPCONV overrides) */
  groupConv?: GroupConvChoice;
}

const GROUP_CHOICES: GroupConvChoice[] = ['auto', 'split', 'depthwise', 'masked'];

/** PyTorch layout -> tfjs layout for one tensor (conv OIHW -> HWIO, fc [out,in] -> [in,out]). */
export function toTfjsLayout(spec: ParamSpec, w: WeightTensor): { shape: number[]; data: Float32Array } {
  if (spec.role === 'conv_weight') {
    const [o, i, kh, kw] = w.shape as [number, number, number, number];
    const out = new Float32Array(w.data.length);
    for (let a = 0; a < o; a++)
      for (let b = 0; b < i; b++)
        for (let y = 0; y < kh; y++)
          for (let x = 0; x < kw; x++) out[((y * kw + x) * i + b) * o + a] = w.data[((a * i + b) * kh + y) * kw + x]!;
    return { shape: [kh, kw, i, o], data: out };
  }
  if (spec.role === 'fc_weight') {
    const [o, i] = w.shape as [number, number];
    const out = new Float32Array(w.data.length);
    for (let a = 0; a < o; a++) for (let b = 0; b < i; b++) out[b * o + a] = w.data[a * i + b]!;
    return { shape: [i, o], data: out };
  }
  return { shape: w.shape, data: Float32Array.from(w.data) };
}

/** tfjs layout -> PyTorch layout (inverse of toTfjsLayout). */
export function fromTfjsLayout(spec: ParamSpec, data: Float32Array): WeightTensor {
  const shape = spec.shape;
  if (spec.role === 'conv_weight') {
    const [o, i, kh, kw] = shape as [number, number, number, number];
    const out = new Float32Array(data.length);
    for (let a = 0; a < o; a++)
      for (let b = 0; b < i; b++)
        for (let y = 0; y < kh; y++)
          for (let x = 0; x < kw; x++) out[((a * i + b) * kh + y) * kw + x] = data[((y * kw + x) * i + b) * o + a]!;
    return { shape: [...shape], data: out };
  }
  if (spec.role === 'fc_weight') {
    const [o, i] = shape as [number, number];
    const out = new Float32Array(data.length);
    for (let a = 0; a < o; a++) for (let b = 0; b < i; b++) out[a * i + b] = data[b * o + a]!;
    return { shape: [...shape], data: out };
  }
  return { shape: [...shape], data: Float32Array.from(data) };
}

class TfjsNet implements CompiledNet {
  private readonly specs: ParamSpec[];
  private readonly bySpec = new Map<string, ParamSpec>();
  /** learned params (variables) and BN buffers (kept tensors), tfjs layouts */
  private readonly vars = new Map<string, tf.Variable>();
  private readonly buffers = new Map<string, tf.Tensor>();
  private readonly momentum = new Map<string, tf.Tensor>();
  private readonly trainable: tf.Variable[] = [];
  private readonly trainableNames: string[] = [];
  /** gradients accumulated since the last update (tfjs layouts), by variable name */
  private pending: tf.NamedTensorMap | undefined;
  private adamw: AdamWState | undefined;
  private dropRates: { rate: number; rates: Map<number, number> } | undefined;
  private disposed = false;

  constructor(
    readonly net: Network,
    init: WeightMap,
    private readonly backend: string,
    private readonly groupConv: GroupConvChoice,
  ) {
    this.specs = paramSpecs(net);
    for (const s of this.specs) this.bySpec.set(s.name, s);
    useBackend(backend);
    for (const s of this.specs) {
      const w = init.get(s.name);
      if (!w) throw new UsageError(`weights: missing ${s.name} for model ${net.name}`);
      checkShape(s, w);
      const t = toTfjsLayout(s, w);
      const tensor = tf.tensor(t.data, t.shape, 'float32');
      if (s.trainable) {
        const v = tf.variable(tensor, true);
        tensor.dispose();
        this.vars.set(s.name, v);
        this.trainable.push(v);
        this.trainableNames.push(s.name);
      } else {
        this.buffers.set(s.name, tf.keep(tensor));
      }
    }
  }

  private ctx(mode: Mode, stats?: Map<string, BatchStats>, dropMasks?: Map<number, tf.Tensor4D>): ForwardContext {
    return {
      dropMasks,
      net: this.net,
      params: { get: (name) => this.vars.get(name)! },
      buffers: (name) => ({
        mean: this.buffers.get(`${name}.running_mean`) as tf.Tensor1D,
        var: this.buffers.get(`${name}.running_var`) as tf.Tensor1D,
      }),
      mode,
      stats,
      groupConv: this.groupConv,
    };
  }

  private check(input: Float32Array, n: number): void {
    if (this.disposed) throw new Error('CompiledNet used after dispose()');
    const [h, w] = this.net.res;
    const expect = n * this.net.inChans * h * w;
    if (input.length !== expect)
      throw new UsageError(`input: expected ${expect} floats (${n}x${this.net.inChans}x${h}x${w}), got ${input.length}`);
    useBackend(this.backend);
  }

  /** Per-sample branch multipliers of each dropped residual add (the same draws as the torch engine). */
  private dropMasks(n: number, dp: DropPathOptions | undefined): Map<number, tf.Tensor4D> | undefined {
    if (!dp || !(dp.rate > 0)) return undefined;
    if (!(dp.rate < 1)) throw new UsageError(`drop-path rate: expected a number in [0, 1), got ${dp.rate}`);
    if (this.dropRates?.rate !== dp.rate) this.dropRates = { rate: dp.rate, rates: dropPathRates(this.net, dp.rate) };
    const out = new Map<number, tf.Tensor4D>();
    for (const [id, m] of dropPathMasks(this.dropRates.rates, n, dp.seed)) out.set(id, tf.tensor4d(m, [n, 1, 1, 1]));
    return out;
  }

  private inputTensor(input: Float32Array, n: number): tf.Tensor4D {
    const [h, w] = this.net.res;
    return tf.tidy(() => tf.transpose(tf.tensor4d(input, [n, this.net.inChans, h, w]), [0, 2, 3, 1]));
  }

  predict(input: Float32Array, n: number): Float32Array {
    this.check(input, n);
    return tf.tidy(() => {
      const x = this.inputTensor(input, n);
      return forward(this.ctx('eval'), x).dataSync() as Float32Array;
    });
  }

  /** loss, correct count and grads (tfjs layouts) in train mode; stats filled when given */
  private lossGrads(
    input: Float32Array,
    target: Target,
    n: number,
    smoothing: number,
    stats: Map<string, BatchStats>,
    dropPath?: DropPathOptions,
    lossScale = 1,
  ) {
    const t = mixedTarget(target, n, this.net.numClasses);
    const x = this.inputTensor(input, n);
    const ys = t.labels.map((l) => tf.tensor1d(l, 'int32'));
    const top = ys[t.labels.indexOf(dominantLabels(t))]!;
    const masks = this.dropMasks(n, dropPath);
    let correct = 0;
    let lossValue = 0;
    try {
      const { value, grads } = tf.variableGrads(() => {
        const logits = forward(this.ctx('train', stats, masks), x);
        const hit = tf.sum(tf.cast(tf.equal(tf.argMax(logits, 1), top), 'int32'));
        correct = hit.dataSync()[0]!;
        const loss = softCrossEntropy(logits, ys, t.weights, smoothing);
        if (lossScale === 1) return loss;
        lossValue = loss.dataSync()[0]!;
        return tf.mul(loss, lossScale) as tf.Scalar;
      }, this.trainable);
      if (lossScale === 1) lossValue = value.dataSync()[0]!;
      return { value, grads, correct, loss: lossValue };
    } finally {
      tf.dispose([x, ...ys, ...(masks ? [...masks.values()] : [])]);
    }
  }

  trainStep(input: Float32Array, target: Target, n: number, opt: OptimizerOptions): StepResult {
    checkOptimizer(opt);
    const r = this.accumulateGrads(input, target, n, opt);
    this.applyUpdate(opt);
    return r;
  }

  accumulateGrads(input: Float32Array, target: Target, n: number, opt: LossOptions & { lossScale?: number }): StepResult {
    this.check(input, n);
    const scale = opt.lossScale ?? 1;
    if (!(Number.isFinite(scale) && scale > 0)) throw new UsageError(`lossScale: expected a number > 0, got ${scale}`);
    const stats = new Map<string, BatchStats>();
    const { value, grads, correct, loss } = this.lossGrads(input, target, n, opt.labelSmoothing, stats, opt.dropPath, scale);
    value.dispose();
    if (!this.pending) this.pending = grads;
    else {
      for (const [k, g] of Object.entries(grads)) {
        const old = this.pending[k]!;
        this.pending[k] = tf.keep(tf.add(old, g));
        tf.dispose([old, g]);
      }
    }
    tf.tidy(() => {
      // running statistics, PyTorch convention (unbiased batch variance)
      for (const node of this.net.nodes) {
        if (node.op !== 'bn') continue;
        const s = stats.get(node.name)!;
        const m = node.momentum;
        for (const [key, batch] of [
          ['running_mean', s.mean],
          ['running_var', s.varUnbiased],
        ] as const) {
          const name = `${node.name}.${key}`;
          const old = this.buffers.get(name)!;
          this.buffers.set(name, tf.keep(tf.add(tf.mul(old, 1 - m), tf.mul(batch, m))));
          old.dispose();
        }
      }
    });
    for (const s of stats.values()) tf.dispose([s.mean, s.varUnbiased]);
    return { loss, correct };
  }

  /** The optimiser step on the gradients accumulated since the last update (the one place they are final). */
  applyUpdate(opt: OptimizerOptions): void {
    checkOptimizer(opt);
    useBackend(this.backend);
    const grads = this.pending;
    if (!grads) return;
    this.pending = undefined;
    // The accumulated gradients are final here, before either optimiser: the one place a data-parallel
    // run all-reduces them.
    if (opt.optimizer === 'adamw') {
      this.adamw ??= new AdamWState();
      const st = this.adamw;
      st.begin();
      for (let i = 0; i < this.trainable.length; i++) {
        const v = this.trainable[i]!;
        const name = this.trainableNames[i]!;
        const w = Float32Array.from(v.dataSync() as Float32Array);
        st.update(name, w, grads[v.name]!.dataSync() as Float32Array, this.bySpec.get(name)!.decay, opt);
        tf.tidy(() => v.assign(tf.tensor(w, v.shape, 'float32')));
      }
      tf.dispose(Object.values(grads));
      return;
    }
    tf.tidy(() => {
      for (let i = 0; i < this.trainable.length; i++) {
        const v = this.trainable[i]!;
        const name = this.trainableNames[i]!;
        let g: tf.Tensor = grads[v.name]!;
        if (opt.weightDecay !== 0 && this.bySpec.get(name)!.decay) g = tf.add(g, tf.mul(v, opt.weightDecay));
        let d = g;
        if (opt.momentum !== 0) {
          const old = this.momentum.get(name);
          // PyTorch: the first step's buffer is the gradient itself
          const buf = old ? tf.add(tf.mul(old, opt.momentum), g) : tf.clone(g);
          if (old) old.dispose();
          this.momentum.set(name, tf.keep(buf));
          d = opt.nesterov ? tf.add(g, tf.mul(buf, opt.momentum)) : buf;
        }
        v.assign(tf.sub(v, tf.mul(d, opt.lr)));
      }
    });
    tf.dispose(Object.values(grads));
  }

  lossAndGrads(
    input: Float32Array,
    target: Target,
    n: number,
    labelSmoothing: number,
    dropPath?: DropPathOptions,
  ): { loss: number; grads: WeightMap } {
    this.check(input, n);
    const stats = new Map<string, BatchStats>();
    const { value, grads } = this.lossGrads(input, target, n, labelSmoothing, stats, dropPath);
    const out: WeightMap = new Map();
    for (let i = 0; i < this.trainable.length; i++) {
      const name = this.trainableNames[i]!;
      out.set(name, fromTfjsLayout(this.bySpec.get(name)!, grads[this.trainable[i]!.name]!.dataSync() as Float32Array));
    }
    const loss = value.dataSync()[0]!;
    tf.dispose([value, ...Object.values(grads)]);
    for (const s of stats.values()) tf.dispose([s.mean, s.varUnbiased]);
    return { loss, grads: out };
  }

  getWeights(): WeightMap {
    this.check(new Float32Array(0), 0);
    const out: WeightMap = new Map();
    for (const s of this.specs) {
      const t = s.trainable ? this.vars.get(s.name)! : this.buffers.get(s.name)!;
      out.set(s.name, fromTfjsLayout(s, t.dataSync() as Float32Array));
    }
    return out;
  }

  setWeights(w: WeightMap): void {
    this.check(new Float32Array(0), 0);
    for (const [name, wt] of w) {
      const s = this.bySpec.get(name);
      if (!s) throw new UsageError(`weights: ${name} is not a parameter of ${this.net.name}`);
      checkShape(s, wt);
      const t = toTfjsLayout(s, wt);
      if (s.trainable) {
        tf.tidy(() => this.vars.get(name)!.assign(tf.tensor(t.data, t.shape, 'float32')));
      } else {
        this.buffers.get(name)!.dispose();
        this.buffers.set(name, tf.keep(tf.tensor(t.data, t.shape, 'float32')));
      }
    }
  }

  getOptimizerState(): WeightMap {
    this.check(new Float32Array(0), 0);
    if (this.adamw) return this.adamw.save((name, data) => fromTfjsLayout(this.bySpec.get(name)!, data));
    const out: WeightMap = new Map();
    for (const [name, buf] of this.momentum) out.set(name, fromTfjsLayout(this.bySpec.get(name)!, buf.dataSync() as Float32Array));
    return out;
  }

  setOptimizerState(s: WeightMap): void {
    this.check(new Float32Array(0), 0);
    if (isAdamWState(s)) {
      this.adamw = loadAdamWState(s, (name, t) => {
        const spec = this.bySpec.get(name);
        if (!spec || !spec.trainable) throw new UsageError(`optimizer state: ${name} is not a learned parameter of ${this.net.name}`);
        checkShape(spec, t);
        return toTfjsLayout(spec, t).data;
      });
      return;
    }
    for (const t of this.momentum.values()) t.dispose();
    this.momentum.clear();
    for (const [name, wt] of s) {
      const spec = this.bySpec.get(name);
      if (!spec || !spec.trainable) throw new UsageError(`optimizer state: ${name} is not a learned parameter of ${this.net.name}`);
      checkShape(spec, wt);
      const t = toTfjsLayout(spec, wt);
      this.momentum.set(name, tf.keep(tf.tensor(t.data, t.shape, 'float32')));
    }
  }

  paramCount(): number {
    let total = 0;
    for (const v of this.trainable) total += v.size;
    return total;
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    tf.dispose([...this.vars.values(), ...this.buffers.values(), ...this.momentum.values(), ...Object.values(this.pending ?? {})]);
    this.pending = undefined;
    this.vars.clear();
    this.buffers.clear();
    this.momentum.clear();
  }
}

function checkShape(s: ParamSpec, w: WeightTensor): void {
  if (w.shape.length !== s.shape.length || w.shape.some((d, i) => d !== s.shape[i]) || w.data.length !== numel(s.shape)) {
    throw new UsageError(`weights: ${s.name} has shape [${w.shape.join(',')}], expected [${s.shape.join(',')}]`);
  }
}

/** Create a tfjs engine on the given backend kind (UsageError when it is not available here). */
export async function createTfjsEngine(kind: TfjsKind, opts: TfjsEngineOptions = {}): Promise<Engine> {
  const backend = await loadTfjsBackend(kind);
  const env = process.env.REGNET_TFJS_GROUPCONV as GroupConvChoice | undefined;
  const groupConv = opts.groupConv ?? env ?? 'auto';
  if (!GROUP_CHOICES.includes(groupConv)) throw new UsageError(`groupConv: '${groupConv}' is not one of ${GROUP_CHOICES.join(', ')}`);
  const b = tf.findBackend(backend) as unknown as { isUsingGpuDevice?: boolean } | null;
  const info: EngineInfo = {
    engine: kind,
    // wasm runs single-threaded under Node (tfjs disables its worker pool there)
    threads: kind === 'wasm' || kind === 'cpu' ? 1 : (opts.threads ?? 0),
    device: kind === 'tfjs-gpu' || b?.isUsingGpuDevice ? 'gpu' : 'cpu',
    version: `tfjs ${tf.version.tfjs}`,
  };
  return {
    info,
    compile(net: Network, init?: WeightMap): CompiledNet {
      return new TfjsNet(net, init ?? initWeights(net, 0), backend, groupConv);
    },
    close(): void {
      /* the tfjs backend is process-wide and shared by other engines of the same kind */
    },
  };
}
