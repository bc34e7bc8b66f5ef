/**
 * JS side of the libtorch binding: a Tensor wrapper with eager, idempotent dispose(), and tidy() scopes
 * that free every tensor created inside them except the ones returned or kept. Memory and speed both
 * depend on freeing activations as soon as they are dead (Node runs GC finalizers too late for a
 * synchronous training loop), so the engine disposes eagerly and tidy() is the backstop.
 */
import { torchAddon, type Handle, type TorchAddon } from './native.js';
import { UsageError } from '../../util/errors.js';

let addonRef: TorchAddon | undefined;
function A(): TorchAddon {
  return (addonRef ??= torchAddon());
}

/** Open scopes, innermost last; each collects the tensors created while it is innermost. */
const scopes: (Tensor[] | null)[] = [];

function adopt(t: Tensor, scope: Tensor[] | null | undefined): void {
  if (scope) scope.push(t);
  else finalizer.register(t, t.h, t);
}

/** Frees tensors that were never disposed nor scoped once their wrapper is garbage collected. */
const finalizer = new FinalizationRegistry<Handle>((h) => {
  addonRef?.free(h);
});

export class Tensor {
  #h: Handle;

  /** Wraps a fresh native handle (takes ownership). */
  constructor(h: Handle) {
    this.#h = h;
    adopt(this, scopes[scopes.length - 1]);
  }

  /** The native handle; throws once disposed. */
  get h(): Handle {
    if (this.#h < 0) throw new Error('tensor used after dispose');
    return this.#h;
  }

  get disposed(): boolean {
    return this.#h < 0;
  }

  /** Delete the native tensor now (safe to call more than once). */
  dispose(): void {
    if (this.#h < 0) return;
    A().free(this.#h);
    finalizer.unregister(this);
    this.#h = -1;
  }

  get shape(): number[] {
    return A().shape(this.h);
  }

  /** Values as a row-major Float32Array copy (int tensors are converted). */
  toFloat32(): Float32Array {
    return A().toF32(this.h);
  }

  item(): number {
    return A().item(this.h);
  }

  get device(): string {
    return A().deviceOf(this.h);
  }

  /** Overwrite the values in place (not recorded by autograd). */
  assign(data: Float32Array): void {
    A().copyFromF32(this.h, data);
  }

  requiresGrad(on = true): this {
    A().setRequiresGrad(this.h, on);
    return this;
  }

  /** d(loss)/d(this) after backward(), or null. */
  grad(): Tensor | null {
    const g = A().grad(this.h);
    return g < 0 ? null : new Tensor(g);
  }

  backward(): void {
    A().backward(this.h);
  }
}

// ---- creation --------------------------------------------------------------------------------------

export function fromFloat32(data: Float32Array, shape: number[], opts: { requiresGrad?: boolean; device?: string } = {}): Tensor {
  return new Tensor(A().fromF32(data, shape, opts.requiresGrad ?? false, opts.device ?? 'cpu'));
}

/** int64 tensor from int32 values (class labels: cross entropy needs int64). */
export function labelsFrom(data: Int32Array, device = 'cpu'): Tensor {
  return new Tensor(A().fromI32AsI64(data, [data.length], device));
}

export function zeros(shape: number[], device = 'cpu'): Tensor {
  return new Tensor(A().zeros(shape, device));
}

export function randn(shape: number[], device = 'cpu'): Tensor {
  return new Tensor(A().randn(shape, device));
}

// ---- ops (each returns a new tensor) ---------------------------------------------------------------

const none = -1;
const opt = (t: Tensor | null | undefined): Handle => (t ? t.h : none);

export const ops = {
  conv2d: (x: Tensor, w: Tensor, b: Tensor | null, stride = 1, pad = 0, groups = 1) =>
    new Tensor(A().conv2d(x.h, w.h, opt(b), stride, pad, groups)),
  /** training: batch statistics, and running stats updated in place (PyTorch momentum convention) */
  batchNorm: (
    x: Tensor,
    w: Tensor | null,
    b: Tensor | null,
    mean: Tensor | null,
    variance: Tensor | null,
    training: boolean,
    momentum: number,
    eps: number,
  ) => new Tensor(A().batchNorm(x.h, opt(w), opt(b), opt(mean), opt(variance), training, momentum, eps)),
  groupNorm: (x: Tensor, groups: number, w: Tensor | null, b: Tensor | null, eps: number) =>
    new Tensor(A().groupNorm(x.h, groups, opt(w), opt(b), eps)),
  relu: (x: Tensor) => new Tensor(A().relu(x.h)),
  /** in place: x itself is overwritten; the result shares its storage */
  relu_: (x: Tensor) => new Tensor(A().relu_(x.h)),
  sigmoid: (x: Tensor) => new Tensor(A().sigmoid(x.h)),
  silu: (x: Tensor) => new Tensor(A().silu(x.h)),
  add: (a: Tensor, b: Tensor) => new Tensor(A().add(a.h, b.h)),
  /** broadcasting multiply */
  mul: (a: Tensor, b: Tensor) => new Tensor(A().mul(a.h, b.h)),
  mulScalar: (a: Tensor, s: number) => new Tensor(A().mulScalar(a.h, s)),
  maxPool2d: (x: Tensor, k: number, stride: number, pad: number) => new Tensor(A().maxPool2d(x.h, k, stride, pad)),
  avgPool2d: (x: Tensor, k: number, stride: number, pad: number, ceil: boolean, countIncludePad: boolean) => {
    const a = A();
    // an addon built before avgPool2d existed loads fine but lacks the op: say how to fix it
    if (typeof a.avgPool2d !== 'function')
      throw new UsageError('torch addon predates avgPool2d (ResNet-D shortcuts): rebuild it with `node scripts/build-native.mjs`');
    return new Tensor(a.avgPool2d(x.h, k, stride, pad, ceil, countIncludePad));
  },
  /** [N,C,H,W] -> [N,C,1,1] */
  globalAvgPool: (x: Tensor) => new Tensor(A().globalAvgPool(x.h)),
  /** [N,C,H,W] -> [N,C] */
  meanHW: (x: Tensor) => new Tensor(A().meanHW(x.h)),
  linear: (x: Tensor, w: Tensor, b: Tensor | null) => new Tensor(A().linear(x.h, w.h, opt(b))),
  reshape: (x: Tensor, shape: number[]) => new Tensor(A().reshape(x.h, shape)),
  sum: (x: Tensor) => new Tensor(A().sum(x.h)),
  mean: (x: Tensor) => new Tensor(A().mean(x.h)),
  /** mean cross entropy; labels int64 */
  crossEntropy: (logits: Tensor, labels: Tensor, labelSmoothing = 0) => new Tensor(A().crossEntropy(logits.h, labels.h, labelSmoothing)),
  argmax: (x: Tensor, dim: number) => new Tensor(A().argmax(x.h, dim)),
  topk: (x: Tensor, k: number, dim: number): [Tensor, Tensor] => {
    const [v, i] = A().topk(x.h, k, dim);
    return [new Tensor(v), new Tensor(i)];
  },
  countEqual: (a: Tensor, b: Tensor) => A().countEqual(a.h, b.h),
  detach: (x: Tensor) => new Tensor(A().detach(x.h)),
  clone: (x: Tensor) => new Tensor(A().clone(x.h)),
  to: (x: Tensor, device: string) => new Tensor(A().to(x.h, device)),
  /** same values, NHWC memory order (channelsLast) or NCHW */
  memoryFormat: (x: Tensor, channelsLast: boolean) => new Tensor(A().memoryFormat(x.h, channelsLast)),
};

// ---- modes and scopes ------------------------------------------------------------------------------

/** Run fn with autograd recording off (restores the previous mode). */
export function noGrad<T>(fn: () => T): T {
  const a = A();
  const prev = a.isGradEnabled();
  a.setGradEnabled(false);
  try {
    return fn();
  } finally {
    a.setGradEnabled(prev);
  }
}

/** Tensors reachable from a tidy() result (a tensor, an array or plain object of them). */
function collect(v: unknown, out: Set<Tensor>): void {
  if (v instanceof Tensor) out.add(v);
  else if (Array.isArray(v)) for (const x of v) collect(x, out);
  else if (v && typeof v === 'object' && Object.getPrototypeOf(v) === Object.prototype) for (const x of Object.values(v)) collect(x, out);
}

/**
 * Run fn in a scope: every tensor created inside is disposed when it returns (or throws), except the
 * tensors in its result and those passed to keep(), which move to the enclosing scope.
 */
export function tidy<T>(fn: () => T): T {
  const scope: Tensor[] = [];
  scopes.push(scope);
  let result: T | undefined;
  try {
    result = fn();
    return result;
  } finally {
    scopes.pop();
    const keepSet = new Set<Tensor>();
    collect(result, keepSet);
    const parent = scopes[scopes.length - 1];
    for (const t of scope) {
      if (t.disposed) continue;
      if (keepSet.has(t) || kept.has(t)) {
        kept.delete(t);
        adopt(t, parent);
      } else {
        t.dispose();
      }
    }
  }
}

/** Run fn outside every tidy() scope: the tensors it creates live until disposed (e.g. parameters). */
export function persistent<T>(fn: () => T): T {
  scopes.push(null);
  try {
    return fn();
  } finally {
    scopes.pop();
  }
}

const kept = new Set<Tensor>();
/** Exempt a tensor from the innermost tidy() (it moves to the enclosing scope). */
export function keep<T extends Tensor>(t: T): T {
  kept.add(t);
  return t;
}
