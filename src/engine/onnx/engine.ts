/**
 * The onnx engine: compile() turns the IR and its weights into an ONNX model (./graph.ts) and opens an
 * onnxruntime session on it; predict() runs that session. Inference only: the training methods throw.
 * The weight map is kept, and setWeights() rebuilds the session from it.
 */
import { availableParallelism } from 'node:os';
import { initWeights } from '../../arch/init.js';
import type { Network } from '../../arch/ir.js';
import { numel, paramSpecs } from '../../arch/params.js';
import type { WeightMap } from '../../arch/weights.js';
import { UsageError } from '../../util/errors.js';
import type { CompiledNet, Engine, EngineOptions, LossOptions, OptimizerOptions, StepResult, Target } from '../types.js';
import { checkedWeights, compileOnnx, INPUT_NAME, OUTPUT_NAME } from './graph.js';
import { loadOrt, ORT_INSTALL_HINT, type NativeSession, type OrtRuntime, type OrtSessionOptions } from './runtime.js';

const INFERENCE_ONLY = 'engine onnx is inference-only; train with torch or wasm';

/** 'cpu' | 'cuda' | 'cuda:N' -> execution providers, or a one-line error. */
function executionProviders(
  ort: OrtRuntime,
  device: string | undefined,
): { device: string; providers: OrtSessionOptions['executionProviders'] } {
  const d = (device ?? 'cpu').trim().toLowerCase();
  if (d === 'cpu') return { device: 'cpu', providers: ['cpu'] };
  const m = /^cuda(?::(\d+))?$/.exec(d);
  if (!m) throw new UsageError(`--device: '${device}' is not one of cpu, cuda, cuda:N`);
  if (!ort.cudaInstalled) {
    throw new UsageError(
      `--device ${d}: onnxruntime-node ${ort.version} has no CUDA execution provider installed (reinstall it with ONNXRUNTIME_NODE_INSTALL=cuda12 on a machine that can download it); use --device cpu`,
    );
  }
  const deviceId = m[1] === undefined ? 0 : Number(m[1]);
  return { device: `cuda:${deviceId}`, providers: [{ name: 'cuda', deviceId }] };
}

export function createOnnxEngine(opts: EngineOptions = {}): Engine {
  const p = loadOrt();
  if (!p.ok) throw new UsageError(`engine onnx is not available: ${p.reason}; ${ORT_INSTALL_HINT}`);
  const ort = p.ort;
  const threads = opts.threads ?? availableParallelism();
  if (!Number.isInteger(threads) || threads < 1) throw new UsageError(`--threads: expected a positive integer, got ${opts.threads}`);
  const { device, providers } = executionProviders(ort, opts.device);
  const sessionOptions: OrtSessionOptions = {
    intraOpNumThreads: threads,
    interOpNumThreads: 1,
    executionMode: 'sequential',
    graphOptimizationLevel: 'all',
    executionProviders: providers,
    logSeverityLevel: 3,
  };
  return {
    info: { engine: 'onnx', threads, device, version: `onnxruntime ${ort.version}` },
    compile: (net, init) => new OnnxNet(ort, net, init ?? initWeights(net, 0), sessionOptions),
  };
}

class OnnxNet implements CompiledNet {
  readonly net: Network;
  private weights: WeightMap;
  private session: NativeSession | undefined;
  private readonly inShape: [number, number, number];
  private readonly trainableCount: number;

  constructor(
    private readonly ort: OrtRuntime,
    net: Network,
    init: WeightMap,
    private readonly options: OrtSessionOptions,
  ) {
    this.net = net;
    const input = net.nodes[0];
    if (!input || input.op !== 'input') throw new Error(`${net.name}: node 0 must be the input`);
    this.inShape = input.out;
    this.trainableCount = paramSpecs(net)
      .filter((s) => s.trainable)
      .reduce((a, s) => a + numel(s.shape), 0);
    this.weights = copyWeights(checkedWeights(net, init));
    this.session = this.open(this.weights);
  }

  /** A session on the ONNX model of `weights`. */
  private open(weights: WeightMap): NativeSession {
    const bytes = compileOnnx(this.net, weights);
    const s = this.ort.newSession();
    try {
      s.loadModel(bytes.buffer as ArrayBuffer, bytes.byteOffset, bytes.byteLength, this.options);
    } catch (e) {
      const msg = String((e as Error)?.message ?? e).split('\n')[0]!;
      const on = this.options.executionProviders?.map((p) => (typeof p === 'string' ? p : p.name)).join(', ');
      throw new UsageError(`onnxruntime could not open ${this.net.name} (${on}): ${msg}`);
    }
    return s;
  }

  predict(input: Float32Array, n: number): Float32Array {
    if (!this.session) throw new Error(`${this.net.name}: compiled net used after dispose`);
    const [c, h, w] = this.inShape;
    if (!Number.isInteger(n) || n < 1) throw new UsageError(`batch size must be a positive integer, got ${n}`);
    if (input.length !== n * c * h * w)
      throw new UsageError(`input: expected ${n}x${c}x${h}x${w} = ${n * c * h * w} floats, got ${input.length}`);
    // onnxruntime-node takes no view of a SharedArrayBuffer (the image loader's batches): copy those
    const data = input.buffer instanceof ArrayBuffer ? input : new Float32Array(input);
    const x = new this.ort.Tensor('float32', data, [n, c, h, w]);
    const out = this.session.run({ [INPUT_NAME]: x }, { [OUTPUT_NAME]: null }, {})[OUTPUT_NAME];
    const k = this.net.numClasses;
    if (!out || !(out.data instanceof Float32Array) || out.data.length !== n * k) {
      throw new Error(`${this.net.name}: onnxruntime returned no [${n}, ${k}] float32 logits`);
    }
    return new Float32Array(out.data);
  }

  trainStep(_input: Float32Array, _target: Target, _n: number, _opt: OptimizerOptions): StepResult {
    throw new UsageError(INFERENCE_ONLY);
  }

  accumulateGrads(_input: Float32Array, _target: Target, _n: number, _opt: LossOptions): StepResult {
    throw new UsageError(INFERENCE_ONLY);
  }

  applyUpdate(_opt: OptimizerOptions): void {
    throw new UsageError(INFERENCE_ONLY);
  }

  lossAndGrads(_input: Float32Array, _target: Target, _n: number, _labelSmoothing: number): { loss: number; grads: WeightMap } {
    throw new UsageError(INFERENCE_ONLY);
  }

  getWeights(): WeightMap {
    return copyWeights(this.weights);
  }

  setWeights(w: WeightMap): void {
    const specs = new Map(paramSpecs(this.net).map((s) => [s.name, s]));
    const next = new Map(this.weights);
    for (const [name, t] of w) {
      if (name.endsWith('.num_batches_tracked')) continue;
      const s = specs.get(name);
      if (!s) throw new UsageError(`weights: '${name}' is not a parameter of ${this.net.name}`);
      if (t.shape.length !== s.shape.length || t.shape.some((d, i) => d !== s.shape[i]) || t.data.length !== numel(s.shape)) {
        throw new UsageError(`weights: '${name}' has shape [${t.shape.join(', ')}], expected [${s.shape.join(', ')}]`);
      }
      next.set(name, { shape: [...s.shape], data: Float32Array.from(t.data) });
    }
    const session = this.open(next);
    this.session?.dispose();
    this.session = session;
    this.weights = next;
  }

  /** No optimiser on an inference engine: always empty. */
  getOptimizerState(): WeightMap {
    return new Map();
  }

  setOptimizerState(s: WeightMap): void {
    if (s.size) throw new UsageError(INFERENCE_ONLY);
  }

  paramCount(): number {
    return this.trainableCount;
  }

  dispose(): void {
    this.session?.dispose();
    this.session = undefined;
  }
}

function copyWeights(w: WeightMap): WeightMap {
  const out: WeightMap = new Map();
  for (const [name, t] of w) out.set(name, { shape: [...t.shape], data: Float32Array.from(t.data) });
  return out;
}
