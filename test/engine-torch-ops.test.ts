/**
 * libtorch addon ops against hand-written float64 references (forward) and central finite differences
 * (backward), plus the SGD update against PyTorch's formula, and handle/scope hygiene.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { torchAddon, torchAvailable } from '../src/engine/torch/native.js';
import { fromFloat32, keep, labelsFrom, noGrad, ops, randn, tidy, type Tensor } from '../src/engine/torch/tensor.js';
import { Rng } from '../src/util/rng.js';

const avail = torchAvailable();
const skip = avail.ok ? false : `torch addon unavailable: ${avail.reason}`;
if (skip) console.log(`# skipping torch op tests: ${skip}`);

const rng = new Rng(1234);
function rand(n: number, scale = 1): Float32Array {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = (rng.next() * 2 - 1) * scale;
  return a;
}
const numel = (s: number[]) => s.reduce((a, b) => a * b, 1);

function close(actual: ArrayLike<number>, expected: ArrayLike<number>, tol: number, what: string): void {
  assert.equal(actual.length, expected.length, `${what}: length`);
  let worst = 0;
  let at = -1;
  for (let i = 0; i < actual.length; i++) {
    const e = Math.abs(actual[i]! - expected[i]!) / Math.max(1, Math.abs(expected[i]!));
    if (!(e <= worst)) {
      worst = e;
      at = i;
    }
  }
  assert.ok(worst <= tol, `${what}: max error ${worst} at ${at} (got ${actual[at]}, want ${expected[at]})`);
}

// ---- float64 references -----------------------------------------------------------------------------

function convRef(
  x: Float32Array,
  xs: number[],
  w: Float32Array,
  ws: number[],
  b: Float32Array | null,
  stride: number,
  pad: number,
  groups: number,
) {
  const [n, c, h, wd] = xs as [number, number, number, number];
  const [co, cig, k] = ws as [number, number, number, number];
  const oh = Math.floor((h + 2 * pad - k) / stride) + 1;
  const ow = Math.floor((wd + 2 * pad - k) / stride) + 1;
  const cog = co / groups;
  const out = new Float64Array(n * co * oh * ow);
  for (let b0 = 0; b0 < n; b0++)
    for (let o = 0; o < co; o++) {
      const g = Math.floor(o / cog);
      for (let y = 0; y < oh; y++)
        for (let xx = 0; xx < ow; xx++) {
          let s = b ? b[o]! : 0;
          for (let ci = 0; ci < cig; ci++)
            for (let ky = 0; ky < k; ky++)
              for (let kx = 0; kx < k; kx++) {
                const iy = y * stride - pad + ky;
                const ix = xx * stride - pad + kx;
                if (iy < 0 || ix < 0 || iy >= h || ix >= wd) continue;
                s += x[((b0 * c + g * cig + ci) * h + iy) * wd + ix]! * w[((o * cig + ci) * k + ky) * k + kx]!;
              }
          out[((b0 * co + o) * oh + y) * ow + xx] = s;
        }
    }
  void c;
  return { out, shape: [n, co, oh, ow] };
}

/** Per-channel (or per-group) normalisation over the given index sets. */
function normRef(x: Float32Array, sets: number[][], eps: number, gamma: (i: number) => number, beta: (i: number) => number) {
  const out = new Float64Array(x.length);
  const stats: { mean: number; varB: number; varU: number }[] = [];
  for (const idx of sets) {
    let m = 0;
    for (const i of idx) m += x[i]!;
    m /= idx.length;
    let v = 0;
    for (const i of idx) v += (x[i]! - m) ** 2;
    const varB = v / idx.length;
    stats.push({ mean: m, varB, varU: v / (idx.length - 1) });
    for (const i of idx) out[i] = ((x[i]! - m) / Math.sqrt(varB + eps)) * gamma(i) + beta(i);
  }
  return { out, stats };
}

/** loss = sum(f(inputs) * r): checks d loss / d input by central differences on a few coordinates. */
function checkGrads(
  name: string,
  shapes: number[][],
  data: Float32Array[],
  f: (ts: Tensor[]) => Tensor,
  tol = 3e-3,
  h = 1e-2,
  picks = 12,
): void {
  tidy(() => {
    const ts = data.map((d, i) => fromFloat32(d, shapes[i]!, { requiresGrad: true }));
    const y = f(ts);
    const r = fromFloat32(rand(numel(y.shape)), y.shape);
    const loss = ops.sum(ops.mul(y, r));
    loss.backward();
    const grads = ts.map((t) => t.grad()!.toFloat32());
    const lossAt = (k: number, i: number, v: number): number =>
      tidy(() => {
        const d = data.map((a) => a.slice());
        d[k]![i] = v;
        return noGrad(() => ops.sum(ops.mul(f(d.map((a, j) => fromFloat32(a, shapes[j]!))), r)).item());
      });
    for (let k = 0; k < data.length; k++) {
      for (let p = 0; p < picks; p++) {
        const i = Math.floor(rng.next() * data[k]!.length);
        const x0 = data[k]![i]!;
        const fd = (lossAt(k, i, x0 + h) - lossAt(k, i, x0 - h)) / (2 * h);
        const g = grads[k]![i]!;
        assert.ok(
          Math.abs(fd - g) <= tol * Math.max(1, Math.abs(fd)),
          `${name}: d/d input${k}[${i}] backward ${g} vs finite difference ${fd}`,
        );
      }
    }
  });
}

describe('torch addon ops', { skip }, () => {
  it('round-trips Float32Array and int labels, reports shape and device', () => {
    tidy(() => {
      const d = rand(24);
      const t = fromFloat32(d, [2, 3, 4]);
      assert.deepEqual(t.shape, [2, 3, 4]);
      assert.deepEqual(t.toFloat32(), d);
      assert.equal(t.device, 'cpu');
      assert.deepEqual(Array.from(labelsFrom(new Int32Array([3, 0, 7])).toFloat32()), [3, 0, 7]);
      assert.throws(() => fromFloat32(d, [5, 5]), /does not match shape/);
    });
  });

  it('conv2d with groups, stride, padding and bias matches a direct convolution, gradients match finite differences', () => {
    for (const [groups, stride, pad, k, bias] of [
      [1, 1, 1, 3, true],
      [2, 2, 1, 3, false],
      [6, 1, 0, 1, true],
      [3, 2, 3, 7, false],
    ] as [number, number, number, number, boolean][]) {
      const xs = [2, 12, 9, 8];
      const ws = [6, 12 / groups, k, k];
      const x = rand(numel(xs));
      const w = rand(numel(ws), 0.5);
      const b = bias ? rand(6) : null;
      const ref = convRef(x, xs, w, ws, b, stride, pad, groups);
      tidy(() => {
        const y = ops.conv2d(fromFloat32(x, xs), fromFloat32(w, ws), b && fromFloat32(b, [6]), stride, pad, groups);
        assert.deepEqual(y.shape, ref.shape);
        close(y.toFloat32(), ref.out, 1e-5, `conv g${groups} s${stride} p${pad} k${k}`);
      });
      const shapes = b ? [xs, ws, [6]] : [xs, ws];
      const data = b ? [x, w, b] : [x, w];
      checkGrads(`conv g${groups}`, shapes, data, (t) => ops.conv2d(t[0]!, t[1]!, t[2] ?? null, stride, pad, groups));
    }
  });

  it('batch_norm: train normalises with batch stats and updates running stats in place; eval uses them', () => {
    const xs = [4, 3, 5, 5];
    const x = rand(numel(xs), 2);
    const gamma = rand(3);
    const beta = rand(3);
    const sets: number[][] = [[], [], []];
    for (let i = 0; i < x.length; i++) sets[Math.floor(i / 25) % 3]!.push(i);
    const ch = (i: number) => Math.floor(i / 25) % 3;
    const ref = normRef(
      x,
      sets,
      1e-5,
      (i) => gamma[ch(i)]!,
      (i) => beta[ch(i)]!,
    );
    tidy(() => {
      const rm = fromFloat32(new Float32Array([0.5, -1, 0]), [3]);
      const rv = fromFloat32(new Float32Array([1, 2, 0.5]), [3]);
      const y = ops.batchNorm(fromFloat32(x, xs), fromFloat32(gamma, [3]), fromFloat32(beta, [3]), rm, rv, true, 0.1, 1e-5);
      close(y.toFloat32(), ref.out, 1e-5, 'bn train');
      close(
        rm.toFloat32(),
        [0.5, -1, 0].map((v, c) => 0.9 * v + 0.1 * ref.stats[c]!.mean),
        1e-6,
        'running mean',
      );
      close(
        rv.toFloat32(),
        [1, 2, 0.5].map((v, c) => 0.9 * v + 0.1 * ref.stats[c]!.varU),
        1e-6,
        'running var (unbiased)',
      );
      const rmv = rm.toFloat32();
      const rvv = rv.toFloat32();
      const ye = ops.batchNorm(fromFloat32(x, xs), fromFloat32(gamma, [3]), fromFloat32(beta, [3]), rm, rv, false, 0.1, 1e-3).toFloat32();
      const want = Array.from(x, (v, i) => ((v - rmv[ch(i)]!) / Math.sqrt(rvv[ch(i)]! + 1e-3)) * gamma[ch(i)]! + beta[ch(i)]!);
      close(ye, want, 1e-5, 'bn eval');
      close(rm.toFloat32(), rmv, 0, 'eval leaves running mean');
    });
    checkGrads('bn train', [xs, [3], [3]], [x, gamma, beta], (t) => ops.batchNorm(t[0]!, t[1]!, t[2]!, null, null, true, 0.1, 1e-5), 5e-3);
  });

  it('group_norm matches a per-sample, per-group reference and finite differences', () => {
    const xs = [2, 6, 3, 4];
    const x = rand(numel(xs), 2);
    const gamma = rand(6);
    const beta = rand(6);
    const groups = 3;
    const sets: number[][] = [];
    for (let n = 0; n < 2; n++) for (let g = 0; g < groups; g++) sets.push(Array.from({ length: 24 }, (_, j) => n * 72 + g * 24 + j));
    const ch = (i: number) => Math.floor(i / 12) % 6;
    const ref = normRef(
      x,
      sets,
      1e-5,
      (i) => gamma[ch(i)]!,
      (i) => beta[ch(i)]!,
    );
    tidy(() =>
      close(
        ops.groupNorm(fromFloat32(x, xs), groups, fromFloat32(gamma, [6]), fromFloat32(beta, [6]), 1e-5).toFloat32(),
        ref.out,
        1e-5,
        'gn',
      ),
    );
    checkGrads('gn', [xs, [6], [6]], [x, gamma, beta], (t) => ops.groupNorm(t[0]!, groups, t[1]!, t[2]!, 1e-5), 5e-3);
  });

  it('relu, sigmoid, silu, add, broadcast mul', () => {
    const s = [2, 3, 2, 2];
    const x = rand(24, 3);
    const y = rand(24, 3);
    const gate = rand(6);
    tidy(() => {
      const tx = fromFloat32(x, s);
      close(
        ops.relu(tx).toFloat32(),
        Array.from(x, (v) => Math.max(0, v)),
        0,
        'relu',
      );
      close(
        ops.sigmoid(tx).toFloat32(),
        Array.from(x, (v) => 1 / (1 + Math.exp(-v))),
        1e-6,
        'sigmoid',
      );
      close(
        ops.silu(tx).toFloat32(),
        Array.from(x, (v) => v / (1 + Math.exp(-v))),
        1e-6,
        'silu',
      );
      close(
        ops.add(tx, fromFloat32(y, s)).toFloat32(),
        Array.from(x, (v, i) => v + y[i]!),
        1e-6,
        'add',
      );
      close(
        ops.mul(tx, fromFloat32(gate, [2, 3, 1, 1])).toFloat32(),
        Array.from(x, (v, i) => v * gate[Math.floor(i / 4)]!),
        1e-6,
        'mul broadcast',
      );
      const t2 = fromFloat32(x, s);
      const r = ops.relu_(t2);
      close(
        t2.toFloat32(),
        Array.from(x, (v) => Math.max(0, v)),
        0,
        'relu_ writes in place',
      );
      r.dispose();
    });
    checkGrads('sigmoid', [s], [x], (t) => ops.sigmoid(t[0]!));
    checkGrads('silu', [s], [x], (t) => ops.silu(t[0]!));
    checkGrads('relu', [s], [x], (t) => ops.relu(t[0]!));
    checkGrads('add+mul', [s, s, [2, 3, 1, 1]], [x, y, gate], (t) => ops.mul(ops.add(t[0]!, t[1]!), t[2]!));
  });

  it('max_pool2d, global average pool, mean over H,W, linear', () => {
    const s = [2, 3, 7, 6];
    const x = rand(numel(s));
    tidy(() => {
      const tx = fromFloat32(x, s);
      const mp = ops.maxPool2d(tx, 3, 2, 1);
      const oh = 4;
      const ow = 3;
      assert.deepEqual(mp.shape, [2, 3, oh, ow]);
      const want: number[] = [];
      for (let p = 0; p < 6; p++)
        for (let y = 0; y < oh; y++)
          for (let xx = 0; xx < ow; xx++) {
            let m = -Infinity;
            for (let ky = 0; ky < 3; ky++)
              for (let kx = 0; kx < 3; kx++) {
                const iy = y * 2 - 1 + ky;
                const ix = xx * 2 - 1 + kx;
                if (iy >= 0 && ix >= 0 && iy < 7 && ix < 6) m = Math.max(m, x[p * 42 + iy * 6 + ix]!);
              }
            want.push(m);
          }
      close(mp.toFloat32(), want, 0, 'maxpool');
      const means = Array.from({ length: 6 }, (_, p) => x.slice(p * 42, p * 42 + 42).reduce((a, b) => a + b, 0) / 42);
      const gap = ops.globalAvgPool(tx);
      assert.deepEqual(gap.shape, [2, 3, 1, 1]);
      close(gap.toFloat32(), means, 1e-6, 'gap');
      close(ops.meanHW(tx).toFloat32(), means, 1e-6, 'meanHW');
      const w = rand(15);
      const b = rand(5);
      const lin = ops.linear(ops.reshape(gap, [2, 3]), fromFloat32(w, [5, 3]), fromFloat32(b, [5]));
      const wantLin: number[] = [];
      for (let n = 0; n < 2; n++)
        for (let o = 0; o < 5; o++) wantLin.push(b[o]! + [0, 1, 2].reduce((a, c) => a + w[o * 3 + c]! * means[n * 3 + c]!, 0));
      close(lin.toFloat32(), wantLin, 1e-6, 'linear');
    });
    checkGrads('maxpool', [s], [x], (t) => ops.maxPool2d(t[0]!, 3, 2, 1));
    checkGrads('gap', [s], [x], (t) => ops.globalAvgPool(t[0]!));
    checkGrads('linear', [[4, 3], [5, 3], [5]], [rand(12), rand(15), rand(5)], (t) => ops.linear(t[0]!, t[1]!, t[2]!));
  });

  it('cross entropy with label smoothing, argmax and topk', () => {
    const n = 4;
    const k = 5;
    const z = rand(n * k, 3);
    const labels = new Int32Array([1, 4, 0, 2]);
    for (const ls of [0, 0.1]) {
      let want = 0;
      for (let i = 0; i < n; i++) {
        const row = Array.from(z.slice(i * k, i * k + k));
        const m = Math.max(...row);
        const lse = m + Math.log(row.reduce((a, v) => a + Math.exp(v - m), 0));
        const nll = row.map((v) => lse - v);
        want += (1 - ls) * nll[labels[i]!]! + (ls * nll.reduce((a, b) => a + b, 0)) / k;
      }
      want /= n;
      tidy(() => close([ops.crossEntropy(fromFloat32(z, [n, k]), labelsFrom(labels), ls).item()], [want], 1e-6, `CE ls=${ls}`));
      checkGrads(`CE ls=${ls}`, [[n, k]], [z], (t) => ops.crossEntropy(t[0]!, labelsFrom(labels), ls));
    }
    tidy(() => {
      const t = fromFloat32(z, [n, k]);
      const am = Array.from(ops.argmax(t, 1).toFloat32());
      const wantAm = Array.from({ length: n }, (_, i) => {
        const row = Array.from(z.slice(i * k, i * k + k));
        return row.indexOf(Math.max(...row));
      });
      assert.deepEqual(am, wantAm);
      const [vals, idx] = ops.topk(t, 2, 1);
      for (let i = 0; i < n; i++) {
        const row = Array.from(z.slice(i * k, i * k + k));
        const sorted = [...row].sort((a, b) => b - a);
        assert.deepEqual(Array.from(vals.toFloat32().slice(i * 2, i * 2 + 2)), sorted.slice(0, 2));
        assert.equal(row[idx.toFloat32()[i * 2 + 1]!], sorted[1]);
      }
      assert.equal(ops.countEqual(ops.argmax(t, 1), labelsFrom(labels)), wantAm.filter((v, i) => v === labels[i]).length);
    });
  });

  it('sgdStep follows PyTorch SGD (momentum, nesterov, decay only on masked params) and clears grads', () => {
    const a = torchAddon();
    for (const nesterov of [false, true]) {
      tidy(() => {
        const p0 = rand(6);
        const q0 = rand(3);
        const p = fromFloat32(p0, [6], { requiresGrad: true });
        const q = fromFloat32(q0, [3], { requiresGrad: true });
        const bp = ops.clone(fromFloat32(new Float32Array(6), [6]));
        const bq = ops.clone(fromFloat32(new Float32Array(3), [3]));
        const lr = 0.1;
        const mom = 0.9;
        const wd = 0.05;
        const ref = { p: Array.from(p0), q: Array.from(q0), bp: new Array(6).fill(0), bq: new Array(3).fill(0) };
        for (let step = 0; step < 3; step++) {
          // loss = sum(p^2) + sum(3 q): grads 2p and 3
          tidy(() => ops.add(ops.sum(ops.mul(p, p)), ops.sum(ops.mulScalar(q, 3))).backward());
          a.sgdStep([p.h, q.h], [bp.h, bq.h], new Uint8Array([1, 0]), lr, mom, nesterov, wd, true);
          const upd = (x: number[], buf: number[], g: number[], decay: boolean) => {
            for (let i = 0; i < x.length; i++) {
              const d = g[i]! + (decay ? wd * x[i]! : 0);
              buf[i] = mom * buf[i]! + d;
              x[i] = x[i]! - lr * (nesterov ? d + mom * buf[i]! : buf[i]!);
            }
          };
          upd(
            ref.p,
            ref.bp,
            ref.p.map((v) => 2 * v),
            true,
          );
          upd(
            ref.q,
            ref.bq,
            ref.q.map(() => 3),
            false,
          );
          assert.equal(p.grad(), null, 'grad cleared');
        }
        close(p.toFloat32(), ref.p, 1e-6, `sgd p nesterov=${nesterov}`);
        close(q.toFloat32(), ref.q, 1e-6, `sgd q nesterov=${nesterov}`);
        close(bp.toFloat32(), ref.bp, 1e-6, 'momentum buffer');
      });
    }
  });

  it('dispose is idempotent, tidy frees intermediates and keeps results, stale handles throw', () => {
    const a = torchAddon();
    const before = a.liveCount();
    const t = randn([3, 3]);
    assert.equal(a.liveCount(), before + 1);
    t.dispose();
    t.dispose();
    assert.equal(a.liveCount(), before);
    assert.throws(() => t.shape, /after dispose/);
    const h = a.randn([2]);
    a.free(h);
    a.free(h);
    assert.throws(() => a.relu(h), /after dispose/);
    let inner: Tensor | undefined;
    const out = tidy(() => {
      const x = randn([4, 4]);
      inner = ops.relu(x);
      keep(ops.sigmoid(x));
      return ops.add(x, x);
    });
    assert.equal(inner!.disposed, true);
    assert.equal(out.disposed, false);
    assert.equal(a.liveCount(), before + 2, 'result and kept tensor survive the scope');
    out.dispose();
    a.freeMany([]);
    assert.throws(() => tidy(() => ops.relu(out)), /after dispose/);
  });

  it('noGrad, manualSeed, threads, CUDA availability', () => {
    const a = torchAddon();
    tidy(() => {
      const x = randn([3], 'cpu').requiresGrad();
      assert.equal(a.requiresGrad(noGrad(() => ops.mul(x, x)).h), false);
      assert.equal(a.requiresGrad(ops.mul(x, x).h), true);
      a.manualSeed(7);
      const r1 = randn([5]).toFloat32();
      a.manualSeed(7);
      assert.deepEqual(randn([5]).toFloat32(), r1);
    });
    const prev = a.getNumThreads();
    a.setNumThreads(2);
    assert.equal(a.getNumThreads(), 2);
    a.setNumThreads(prev);
    assert.equal(typeof a.cudaAvailable(), 'boolean');
    if (!a.cudaAvailable()) assert.throws(() => a.zeros([2], 'cuda'), /libtorch: /);
    assert.match(a.version(), /^\d+\.\d+\.\d+$/);
  });
});
