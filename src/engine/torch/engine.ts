/**
 * The torch engine: interprets the architecture IR node by node with libtorch ops through the addon;
 * libtorch's autograd does the backward pass and one native call does the SGD update (AdamW runs on
 * host arrays, engine/optim.ts). A step is accumulateGrads (forward + backward) then applyUpdate. Every
 * intermediate is disposed right after its last use (as CPython's refcounting would), and each call
 * runs inside tidy() so nothing survives a step except parameters, BN buffers and momentum buffers.
 */
import { availableParallelism } from 'node:os';
import type { Network, Node } from '../../arch/ir.js';
import { initWeights } from '../../arch/init.js';
import { numel, paramSpecs, type ParamSpec } from '../../arch/params.js';
import type { WeightMap } from '../../arch/weights.js';
import { UsageError } from '../../util/errors.js';
import { dropPathMasks, dropPathRates } from '../../arch/drop-path.js';
import { AdamWState, checkOptimizer, dominantLabels, isAdamWState, loadAdamWState, mixedTarget } from '../optim.js';
import type { CompiledNet, DropPathOptions, Engine, EngineOptions, LossOptions, OptimizerOptions, StepResult, Target } from '../types.js';
import { AmpContext, GradScaler, resolveAmp, type GradScalerOptions } from './amp.js';
import { ProcessGroup } from './dist.js';
import { torchAddon, type TorchAddon } from './native.js';
import { fromFloat32, labelsFrom, noGrad, ops, persistent, tidy, Tensor } from './tensor.js';

/** Internal layout/kernel choices (measured in bench/torch-vs-pytorch.ts); not part of the Engine contract. */
export interface TorchTuning {
  /** NHWC activations and conv weights (measured 7x slower for regnetx_016 training on libtorch 1.13 CPU: off) */
  channelsLast: boolean;
  /** run FC layers as 1x1 convolutions (oneDNN) instead of matmul (the system BLAS) */
  fcAsConv: boolean;
  /** ReLU in place when its input has no other consumer (as torchvision's inplace=True) */
  inplaceRelu: boolean;
  /** a dynamic gradient scaler with these settings whatever the precision (tests: fp32 on the CPU) */
  gradScaler?: Partial<GradScalerOptions>;
}

export const DEFAULT_TUNING: TorchTuning = { channelsLast: false, fcAsConv: true, inplaceRelu: true };

let mallocTuned = false;

/** 'cpu' | 'cuda' | 'cuda:N', checked against what this libtorch can use. */
function resolveDevice(a: TorchAddon, device: string | undefined): string {
  const d = (device ?? 'cpu').trim().toLowerCase();
  if (d === 'cpu') return 'cpu';
  const m = /^cuda(?::(\d+))?$/.exec(d);
  if (!m) throw new UsageError(`--device: '${device}' is not one of cpu, cuda, cuda:N`);
  if (!a.cudaAvailable()) {
    throw new UsageError(
      `--device ${d}: CUDA is not available to libtorch ${a.version()} (a CPU-only build, or no GPU visible); use --device cpu`,
    );
  }
  const idx = m[1] === undefined ? 0 : Number(m[1]);
  const count = a.cudaDeviceCount();
  if (idx >= count) throw new UsageError(`--device ${d}: only ${count} CUDA device(s) visible (cuda:0..cuda:${count - 1})`);
  return `cuda:${idx}`;
}

export function createTorchEngine(opts: EngineOptions = {}, tuning: Partial<TorchTuning> = {}): Engine {
  const a = torchAddon();
  const threads = opts.threads ?? availableParallelism();
  if (!Number.isInteger(threads) || threads < 1) throw new UsageError(`--threads: expected a positive integer, got ${opts.threads}`);
  const dist = opts.distributed && opts.distributed.world > 1 ? opts.distributed : undefined;
  // data-parallel on GPUs: a bare --device cuda means this rank's local GPU
  const device = resolveDevice(a, dist && opts.device?.trim().toLowerCase() === 'cuda' ? `cuda:${dist.localRank}` : opts.device);
  // libtorch defaults to 1 thread here, where some convs skip oneDNN and run ~30x slower
  a.setNumThreads(threads);
  if (!mallocTuned) {
    // keep freed activation buffers in the heap (fewer page faults per step); glibc only, harmless if refused
    a.tuneMalloc(32 << 20);
    mallocTuned = true;
  }
  const amp = resolveAmp(opts.amp, device);
  const tune: TorchTuning = { ...DEFAULT_TUNING, ...tuning };
  if (device !== 'cpu') {
    tune.channelsLast = false;
    tune.fcAsConv = false;
  }
  if (opts.channelsLast !== undefined) tune.channelsLast = opts.channelsLast;
  const precision = amp ?? 'fp32';
  const pg = dist ? ProcessGroup.init(dist, device) : undefined;
  return {
    info: { engine: 'torch', threads, device, version: `libtorch ${a.version()}`, precision, layout: tune.channelsLast ? 'nhwc' : 'nchw' },
    compile: (net, init) => {
      const ctx = new AmpContext(a, device, amp, tune.gradScaler ? new GradScaler(tune.gradScaler) : undefined);
      return new TorchNet(a, net, init ?? initWeights(net, 0), device, tune, ctx, pg, Boolean(pg && opts.syncBatchNorm));
    },
    ...(pg ? { collectives: pg, close: () => pg.close() } : {}),
  };
}

interface Param {
  spec: ParamSpec;
  t: Tensor;
}

class TorchNet implements CompiledNet {
  readonly net: Network;
  private readonly params = new Map<string, Param>();
  /** trainable params in paramSpecs order, with their decay flags */
  private readonly trainable: Param[];
  private readonly trainableHandles: number[];
  private readonly decayMask: Uint8Array;
  private momentum: Map<string, Tensor> | undefined;
  private adamw: AdamWState | undefined;
  /** drop rate per residual add node for the last network rate asked */
  private dropRates: { rate: number; rates: Map<number, number> } | undefined;
  /** per node: index of the last node reading it (dispose point) and how many nodes read it */
  private readonly lastUse: Int32Array;
  private readonly consumers: Int32Array;
  private readonly inShape: [number, number, number];
  private disposed = false;
  private readonly allocated: number;
  /** data-parallel: this rank's share of the current global batch (synchronised BN weights its backward by it) */
  private share = 1;

  constructor(
    private readonly a: TorchAddon,
    net: Network,
    init: WeightMap,
    private readonly device: string,
    private readonly tune: TorchTuning,
    /** precision: autocast region, loss input, gradient scaler */
    readonly amp: AmpContext,
    /** data-parallel: the process group gradients are summed over */
    private readonly pg?: ProcessGroup,
    /** data-parallel: BN in training steps with the global batch's statistics */
    private readonly syncBn = false,
  ) {
    this.net = net;
    const input = net.nodes[0];
    if (!input || input.op !== 'input') throw new Error(`${net.name}: node 0 must be the input`);
    this.inShape = input.out;
    try {
      for (const spec of paramSpecs(net)) {
        const w = init.get(spec.name);
        if (!w) throw new UsageError(`initial weights: '${spec.name}' is missing`);
        checkShape(spec, w.shape);
        const t = fromFloat32(w.data, spec.shape, { device });
        const p: Param = { spec, t: this.layout(spec, t) };
        if (spec.trainable) p.t.requiresGrad(true);
        this.params.set(spec.name, p);
      }
    } catch (e) {
      for (const p of this.params.values()) p.t.dispose();
      throw e;
    }
    this.trainable = [...this.params.values()].filter((p) => p.spec.trainable);
    this.trainableHandles = this.trainable.map((p) => p.t.h);
    this.decayMask = Uint8Array.from(this.trainable, (p) => (p.spec.decay ? 1 : 0));
    // counted from the native tensors, not the specs: what is really allocated
    this.allocated = this.trainable.reduce((s, p) => s + numel(p.t.shape), 0);
    const n = net.nodes.length;
    this.lastUse = new Int32Array(n).fill(-1);
    this.consumers = new Int32Array(n);
    for (const node of net.nodes) {
      for (const i of inputsOf(node)) {
        this.lastUse[i] = node.id;
        this.consumers[i]!++;
      }
    }
    // every rank starts from rank 0's weights and statistics
    this.pg?.broadcast([...this.params.values()].map((p) => p.t.h));
  }

  /** Conv weights go NHWC when activations do (fromFloat32 made a fresh tensor we own). */
  private layout(spec: ParamSpec, t: Tensor): Tensor {
    if (!(this.tune.channelsLast && spec.role === 'conv_weight')) return t;
    const cl = ops.memoryFormat(t, true);
    t.dispose();
    return cl;
  }

  private p(name: string): Tensor {
    const p = this.params.get(name);
    if (!p) throw new Error(`${this.net.name}: no parameter ${name}`);
    return p.t;
  }

  private input(input: Float32Array, n: number): Tensor {
    const [c, h, w] = this.inShape;
    if (!Number.isInteger(n) || n < 1) throw new UsageError(`batch size must be a positive integer, got ${n}`);
    if (input.length !== n * c * h * w)
      throw new UsageError(`input: expected ${n}x${c}x${h}x${w} = ${n * c * h * w} floats, got ${input.length}`);
    const x = fromFloat32(input, [n, c, h, w], { device: this.device });
    return this.tune.channelsLast ? ops.memoryFormat(x, true) : x;
  }

  /** Per-sample branch multipliers [n, 1, 1, 1] of each dropped residual add (training only). */
  private dropMasks(n: number, dp: DropPathOptions | undefined): Map<number, Tensor> | undefined {
    if (!dp || !(dp.rate > 0)) return undefined;
    if (!(dp.rate < 1)) throw new UsageError(`drop-path rate: expected a number in [0, 1), got ${dp.rate}`);
    if (this.dropRates?.rate !== dp.rate) this.dropRates = { rate: dp.rate, rates: dropPathRates(this.net, dp.rate) };
    const out = new Map<number, Tensor>();
    for (const [id, m] of dropPathMasks(this.dropRates.rates, n, dp.seed))
      out.set(id, fromFloat32(m, [n, 1, 1, 1], { device: this.device }));
    return out;
  }

  /** Cross-entropy against a mixture of label sets: sum_j w_j CE(logits, labels_j) (CE is linear in the target). */
  private loss(logits: Tensor, target: Target, n: number, labelSmoothing: number): { loss: Tensor; top: Tensor } {
    const t = mixedTarget(target, n, this.net.numClasses);
    let loss: Tensor | undefined;
    let top: Tensor | undefined;
    const dominant = dominantLabels(t);
    t.labels.forEach((labels, j) => {
      const w = t.weights[j]!;
      const y = labelsFrom(labels, this.device);
      if (labels === dominant) top = y;
      if (w === 0) return;
      const ce = ops.crossEntropy(logits, y, labelSmoothing);
      const term = w === 1 ? ce : ops.mulScalar(ce, w);
      loss = loss ? ops.add(loss, term) : term;
    });
    return { loss: loss ?? ops.mulScalar(ops.crossEntropy(logits, top!, labelSmoothing), 0), top: top! };
  }

  /**
   * Run the IR. training: batch statistics; updateStats: write BN running statistics (PyTorch's train
   * mode) or leave them (lossAndGrads).
   */
  private forward(x: Tensor, training: boolean, updateStats: boolean, drop?: Map<number, Tensor>): Tensor {
    if (this.disposed) throw new Error(`${this.net.name}: compiled net used after dispose`);
    const nodes = this.net.nodes;
    const vals: (Tensor | undefined)[] = new Array(nodes.length);
    vals[0] = x;
    const v = (i: number): Tensor => vals[i]!;
    for (let i = 1; i < nodes.length; i++) {
      const node = nodes[i]!;
      let out: Tensor;
      switch (node.op) {
        case 'input':
          throw new Error(`${this.net.name}: input node at ${i}`);
        case 'conv':
          out = ops.conv2d(
            v(node.input),
            this.p(`${node.name}.weight`),
            node.bias ? this.p(`${node.name}.bias`) : null,
            node.stride,
            node.pad,
            node.groups,
          );
          break;
        case 'bn': {
          const stats = !training || updateStats;
          if (this.syncBn && training && updateStats) {
            const h = (t: Tensor) => t.h;
            out = new Tensor(
              this.pg!.syncBatchNorm(
                v(node.input).h,
                h(this.p(`${node.name}.weight`)),
                h(this.p(`${node.name}.bias`)),
                h(this.p(`${node.name}.running_mean`)),
                h(this.p(`${node.name}.running_var`)),
                node.momentum,
                node.eps,
                this.share,
              ),
            );
            break;
          }
          out = ops.batchNorm(
            v(node.input),
            this.p(`${node.name}.weight`),
            this.p(`${node.name}.bias`),
            stats ? this.p(`${node.name}.running_mean`) : null,
            stats ? this.p(`${node.name}.running_var`) : null,
            training,
            node.momentum,
            node.eps,
          );
          break;
        }
        case 'gn':
          out = ops.groupNorm(v(node.input), node.groups, this.p(`${node.name}.weight`), this.p(`${node.name}.bias`), node.eps);
          break;
        case 'relu':
          // in place only on a tensor nobody else reads (and never on the caller's input)
          out =
            this.tune.inplaceRelu && node.input !== 0 && this.consumers[node.input] === 1
              ? ops.relu_(v(node.input))
              : ops.relu(v(node.input));
          break;
        case 'sigmoid':
          out = ops.sigmoid(v(node.input));
          break;
        case 'silu':
          out = ops.silu(v(node.input));
          break;
        case 'maxpool':
          out = ops.maxPool2d(v(node.input), node.k, node.stride, node.pad);
          break;
        case 'avgpool':
          out = ops.avgPool2d(v(node.input), node.k, node.stride, node.pad, node.ceil, node.countIncludePad);
          break;
        case 'gap':
          out = ops.globalAvgPool(v(node.input));
          break;
        case 'fc':
          out = this.fc(v(node.input), node.name, node.cin, node.cout, node.bias);
          break;
        case 'add': {
          const mask = drop?.get(i);
          // drop-path: the residual branch (first input) times 0 or 1/keep per sample
          out = mask ? ops.add(ops.mul(v(node.inputs[0]), mask), v(node.inputs[1])) : ops.add(v(node.inputs[0]), v(node.inputs[1]));
          break;
        }
        case 'mul':
          out = ops.mul(v(node.inputs[0]), v(node.inputs[1]));
          break;
      }
      vals[i] = out;
      for (const j of inputsOf(node)) if (this.lastUse[j] === i && j !== 0) vals[j]!.dispose();
    }
    return vals[this.net.output]!;
  }

  /** FC on [N, C, 1, 1] (or [N, C]) -> [N, K]. */
  private fc(x: Tensor, name: string, cin: number, cout: number, bias: boolean): Tensor {
    const w = this.p(`${name}.weight`);
    const b = bias ? this.p(`${name}.bias`) : null;
    const n = this.a.shape(x.h)[0]!;
    if (this.tune.fcAsConv) {
      const x4 = x.shape.length === 4 ? x : ops.reshape(x, [n, cin, 1, 1]);
      const y = ops.conv2d(x4, ops.reshape(w, [cout, cin, 1, 1]), b, 1, 0, 1);
      return ops.reshape(y, [n, cout]);
    }
    return ops.linear(ops.reshape(x, [n, cin]), w, b);
  }

  predict(input: Float32Array, n: number): Float32Array {
    return tidy(() => noGrad(() => this.amp.autocast(() => this.forward(this.input(input, n), false, false)).toFloat32()));
  }

  trainStep(input: Float32Array, target: Target, n: number, opt: OptimizerOptions): StepResult {
    checkOptimizer(opt);
    // data-parallel: a rank without samples (a short last batch) contributes zero gradients to the sum
    const r = n > 0 || !this.pg ? this.accumulateGrads(input, target, n, opt) : { loss: 0, correct: 0 };
    // false: fp16 gradients overflowed; no update this step (the scaler backed off)
    return this.update(opt) ? r : { ...r, skipped: true };
  }

  accumulateGrads(
    input: Float32Array,
    target: Target,
    n: number,
    opt: LossOptions & { lossScale?: number; gradScale?: number },
  ): StepResult {
    const scale = opt.lossScale ?? 1;
    if (this.pg) this.share = opt.gradScale ?? 1 / this.pg.world;
    if (!(Number.isFinite(scale) && scale > 0)) throw new UsageError(`lossScale: expected a number > 0, got ${scale}`);
    return tidy(() => {
      const x = this.input(input, n);
      const logits = this.amp.autocast(() => this.forward(x, true, true, this.dropMasks(n, opt.dropPath)));
      const { loss, top } = this.loss(this.amp.lossInput(logits), target, n, opt.labelSmoothing);
      // fp16: the loss scaled by the gradient scaler (unscaled and checked for inf/NaN in applyUpdate)
      this.amp.scaledBackward(scale === 1 ? loss : ops.mulScalar(loss, scale));
      const value = loss.item();
      const correct = noGrad(() => ops.countEqual(ops.argmax(logits, 1), top));
      return { loss: value, correct };
    });
  }

  /** The optimiser step on the gradients accumulated since the last update (the one place they are final). */
  applyUpdate(opt: OptimizerOptions): void {
    this.update(opt);
  }

  /** The update; false when fp16 gradients overflowed and it was skipped (gradients cleared). */
  private update(opt: OptimizerOptions): boolean {
    checkOptimizer(opt);
    // The accumulated gradients are final here, before either optimiser: the one place a data-parallel
    // run sums them over the ranks (each weighted by its share of the global batch; bucketed, all in flight).
    // An inf/NaN on any rank reaches every rank through the sum, so all ranks skip together.
    if (this.pg) this.pg.allreduceGrads(this.trainableHandles, opt.gradScale ?? 1 / this.pg.world);
    if (!this.amp.unscaleAndCheck(this.trainableHandles)) {
      this.a.clearGrads(this.trainableHandles);
      return false;
    }
    if (opt.optimizer === 'adamw') {
      this.adamw ??= new AdamWState();
      const st = this.adamw;
      st.begin();
      tidy(() => {
        for (let i = 0; i < this.trainable.length; i++) {
          const p = this.trainable[i]!;
          const g = p.t.grad();
          if (!g) continue;
          const w = p.t.toFloat32();
          st.update(p.spec.name, w, g.toFloat32(), this.decayMask[i] === 1, opt);
          p.t.assign(w);
        }
      });
      this.a.clearGrads(this.trainableHandles);
      return true;
    }
    tidy(() => {
      const bufs = opt.momentum !== 0 ? this.momentumBuffers() : this.trainableHandles;
      this.a.sgdStep(this.trainableHandles, bufs, this.decayMask, opt.lr, opt.momentum, opt.nesterov, opt.weightDecay, true);
    });
    return true;
  }

  lossAndGrads(
    input: Float32Array,
    target: Target,
    n: number,
    labelSmoothing: number,
    dropPath?: DropPathOptions,
  ): { loss: number; grads: WeightMap } {
    return tidy(() => {
      const x = this.input(input, n);
      const logits = this.amp.autocast(() => this.forward(x, true, false, this.dropMasks(n, dropPath)));
      const { loss } = this.loss(this.amp.lossInput(logits), target, n, labelSmoothing);
      loss.backward();
      const grads: WeightMap = new Map();
      for (const p of this.trainable) {
        const g = p.t.grad();
        grads.set(p.spec.name, { shape: [...p.spec.shape], data: g ? g.toFloat32() : new Float32Array(numel(p.spec.shape)) });
      }
      this.a.clearGrads(this.trainableHandles);
      return { loss: loss.item(), grads };
    });
  }

  /** Momentum buffers, created at zero on first use (equivalent to PyTorch's buf = grad on step 1). */
  private momentumBuffers(): number[] {
    if (!this.momentum) {
      this.momentum = new Map();
      for (const p of this.trainable)
        this.momentum.set(
          p.spec.name,
          persistent(() => new Tensor(this.a.zerosLike(p.t.h))),
        );
    }
    return this.trainable.map((p) => this.momentum!.get(p.spec.name)!.h);
  }

  getWeights(): WeightMap {
    const out: WeightMap = new Map();
    for (const p of this.params.values()) out.set(p.spec.name, { shape: [...p.spec.shape], data: p.t.toFloat32() });
    return out;
  }

  setWeights(w: WeightMap): void {
    for (const [name, t] of w) {
      if (name.endsWith('.num_batches_tracked')) continue;
      const p = this.params.get(name);
      if (!p) throw new UsageError(`weights: '${name}' is not a parameter of ${this.net.name}`);
      checkShape(p.spec, t.shape);
    }
    for (const [name, t] of w) this.params.get(name)?.t.assign(t.data);
  }

  getOptimizerState(): WeightMap {
    if (this.adamw) {
      const st = this.adamw.save((name, data) => ({ shape: [...this.params.get(name)!.spec.shape], data: Float32Array.from(data) }));
      this.amp.saveState(st);
      return st;
    }
    const out: WeightMap = new Map();
    this.amp.saveState(out);
    if (!this.momentum) return out;
    for (const p of this.trainable) out.set(p.spec.name, { shape: [...p.spec.shape], data: this.momentum.get(p.spec.name)!.toFloat32() });
    return out;
  }

  setOptimizerState(state: WeightMap): void {
    const s = this.amp.loadState(state);
    if (isAdamWState(s)) {
      this.adamw = loadAdamWState(s, (name, t) => {
        const p = this.params.get(name);
        if (!p || !p.spec.trainable) throw new UsageError(`optimizer state: '${name}' is not a trainable parameter of ${this.net.name}`);
        checkShape(p.spec, t.shape);
        return Float32Array.from(t.data);
      });
      return;
    }
    for (const [name, t] of s) {
      const p = this.params.get(name);
      if (!p || !p.spec.trainable) throw new UsageError(`optimizer state: '${name}' is not a trainable parameter of ${this.net.name}`);
      checkShape(p.spec, t.shape);
    }
    this.momentumBuffers();
    for (const [name, t] of s) this.momentum!.get(name)!.assign(t.data);
  }

  syncBuffers(): void {
    this.pg?.broadcast([...this.params.values()].filter((p) => !p.spec.trainable).map((p) => p.t.h));
  }

  paramCount(): number {
    return this.allocated;
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    for (const p of this.params.values()) p.t.dispose();
    if (this.momentum) for (const t of this.momentum.values()) t.dispose();
    this.momentum = undefined;
  }
}

function inputsOf(node: Node): number[] {
  switch (node.op) {
    case 'input':
      return [];
    case 'add':
    case 'mul':
      return node.inputs[0] === node.inputs[1] ? [node.inputs[0]] : [...node.inputs];
    default:
      return [node.input];
  }
}

function checkShape(spec: ParamSpec, shape: number[]): void {
  if (shape.length !== spec.shape.length || shape.some((d, i) => d !== spec.shape[i])) {
    throw new UsageError(`weights: '${spec.name}' has shape [${shape.join(', ')}], expected [${spec.shape.join(', ')}]`);
  }
}
