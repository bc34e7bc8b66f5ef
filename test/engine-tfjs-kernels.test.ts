/**
 * The wasm training kernels (src/engine/tfjs/kernels.ts) against the pure-JS cpu backend's reference
 * kernels and against central finite differences.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { loadTfjsBackend } from '../src/engine/tfjs/backend.js';
import { Rng } from '../src/util/rng.js';
import { maxRel } from './helpers/numeric.js';

await loadTfjsBackend('cpu');
await loadTfjsBackend('wasm');

function rand(rng: Rng, n: number): Float32Array {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = rng.normal();
  return a;
}

type Case = { n: number; h: number; w: number; ci: number; co: number; k: number; s: number; p: number | 'same' | 'valid'; dw?: number };
const convCases: Case[] = [
  { n: 2, h: 7, w: 7, ci: 3, co: 5, k: 3, s: 1, p: 1 },
  { n: 2, h: 8, w: 8, ci: 4, co: 6, k: 3, s: 2, p: 1 },
  { n: 3, h: 9, w: 7, ci: 4, co: 2, k: 3, s: 2, p: 1 },
  { n: 2, h: 8, w: 8, ci: 4, co: 6, k: 1, s: 2, p: 0 },
  { n: 2, h: 6, w: 6, ci: 5, co: 3, k: 1, s: 1, p: 0 },
  { n: 1, h: 11, w: 11, ci: 3, co: 4, k: 7, s: 2, p: 3 },
  { n: 2, h: 7, w: 6, ci: 3, co: 4, k: 3, s: 2, p: 'same' },
  { n: 2, h: 7, w: 6, ci: 3, co: 4, k: 3, s: 3, p: 'valid' },
  // tiny maps of the last stages at 32-64 px
  { n: 2, h: 4, w: 4, ci: 8, co: 8, k: 3, s: 2, p: 1 },
  { n: 2, h: 2, w: 2, ci: 8, co: 8, k: 3, s: 2, p: 1 },
  { n: 2, h: 2, w: 2, ci: 8, co: 8, k: 3, s: 1, p: 1 },
  { n: 2, h: 1, w: 1, ci: 8, co: 8, k: 3, s: 1, p: 1 },
  { n: 2, h: 4, w: 4, ci: 8, co: 8, k: 1, s: 2, p: 0 },
];

/** grads of sum(conv(x, f) * r) w.r.t. x and f on the active backend */
function convGrads(x: Float32Array, f: Float32Array, r: Float32Array, c: Case, depthwise: boolean): [Float32Array, Float32Array] {
  return tf.tidy(() => {
    const mult = c.dw ?? 1;
    const xt = tf.tensor4d(x, [c.n, c.h, c.w, c.ci]);
    const ft = tf.tensor4d(f, depthwise ? [c.k, c.k, c.ci, mult] : [c.k, c.k, c.ci, c.co]);
    const pad =
      typeof c.p === 'number'
        ? ([
            [0, 0],
            [c.p, c.p],
            [c.p, c.p],
            [0, 0],
          ] as [number, number][])
        : c.p;
    const fn = (a: tf.Tensor4D, b: tf.Tensor4D) => {
      const y = depthwise ? tf.depthwiseConv2d(a, b, c.s, pad as never) : tf.conv2d(a, b, c.s, pad as never);
      return tf.sum(tf.mul(y, tf.tensor(r, y.shape)));
    };
    const [gx, gf] = tf.grads(fn as never)([xt, ft]);
    return [gx!.dataSync() as Float32Array, gf!.dataSync() as Float32Array];
  });
}

function outSize(c: Case): [number, number] {
  const o = (size: number) =>
    c.p === 'same'
      ? Math.ceil(size / c.s)
      : c.p === 'valid'
        ? Math.floor((size - c.k) / c.s) + 1
        : Math.floor((size + 2 * c.p - c.k) / c.s) + 1;
  return [o(c.h), o(c.w)];
}

for (const depthwise of [false, true]) {
  const cases = depthwise ? convCases.map((c, i) => ({ ...c, co: c.ci * (1 + (i % 3)), dw: 1 + (i % 3) })) : convCases;
  for (const c of cases) {
    test(`${depthwise ? 'depthwise' : 'conv2d'} gradients match cpu ${JSON.stringify(c)}`, () => {
      const rng = new Rng(7);
      const [oh, ow] = outSize(c);
      const x = rand(rng, c.n * c.h * c.w * c.ci);
      const f = rand(rng, c.k * c.k * c.ci * (depthwise ? c.dw! : c.co));
      const r = rand(rng, c.n * oh * ow * c.co);
      tf.setBackend('cpu');
      const [gxRef, gfRef] = convGrads(x, f, r, c, depthwise);
      tf.setBackend('wasm');
      const before = tf.memory().numTensors;
      const [gx, gf] = convGrads(x, f, r, c, depthwise);
      assert.equal(tf.memory().numTensors, before, 'no leaked tensors');
      assert.ok(maxRel(gx, gxRef) < 1e-5, `dx rel err ${maxRel(gx, gxRef)}`);
      assert.ok(maxRel(gf, gfRef) < 1e-5, `dfilter rel err ${maxRel(gf, gfRef)}`);
    });
  }
}

test('wasm conv gradients match central finite differences (float64 reference loss)', () => {
  tf.setBackend('wasm');
  const rng = new Rng(3);
  for (const depthwise of [false, true]) {
    const c: Case = { n: 1, h: 5, w: 5, ci: 2, co: depthwise ? 4 : 3, k: 3, s: 2, p: 1, dw: 2 };
    const [oh, ow] = outSize(c);
    const x = rand(rng, c.n * c.h * c.w * c.ci);
    const f = rand(rng, c.k * c.k * c.ci * (depthwise ? 2 : c.co));
    const r = rand(rng, c.n * oh * ow * c.co);
    const [gx, gf] = convGrads(x, f, r, c, depthwise);
    // loss(x, f) in float64 on the host, straight from the definition of a (depthwise) convolution
    const loss = (xv: Float32Array, fv: Float32Array): number => {
      let s = 0;
      for (let o = 0; o < c.co; o++)
        for (let y = 0; y < oh; y++)
          for (let xx = 0; xx < ow; xx++) {
            let acc = 0;
            for (let ky = 0; ky < c.k; ky++)
              for (let kx = 0; kx < c.k; kx++) {
                const iy = y * c.s + ky - (c.p as number);
                const ix = xx * c.s + kx - (c.p as number);
                if (iy < 0 || ix < 0 || iy >= c.h || ix >= c.w) continue;
                if (depthwise) {
                  const ci = Math.floor(o / 2);
                  acc += xv[(iy * c.w + ix) * c.ci + ci]! * fv[((ky * c.k + kx) * c.ci + ci) * 2 + (o % 2)]!;
                } else {
                  for (let ci = 0; ci < c.ci; ci++) acc += xv[(iy * c.w + ix) * c.ci + ci]! * fv[((ky * c.k + kx) * c.ci + ci) * c.co + o]!;
                }
              }
            s += acc * r[(y * ow + xx) * c.co + o]!;
          }
      return s;
    };
    const eps = 1e-2;
    for (const [arr, g, name] of [
      [x, gx, 'x'],
      [f, gf, 'f'],
    ] as const) {
      for (let i = 0; i < arr.length; i += 3) {
        const a = Float32Array.from(arr);
        const b = Float32Array.from(arr);
        a[i]! += eps;
        b[i]! -= eps;
        const fd = name === 'x' ? (loss(a, f) - loss(b, f)) / (2 * eps) : (loss(x, a) - loss(x, b)) / (2 * eps);
        assert.ok(
          Math.abs(fd - g[i]!) < 1e-3 * Math.max(1, Math.abs(fd)),
          `${depthwise ? 'dw' : 'conv'} d${name}[${i}] fd ${fd} vs ${g[i]}`,
        );
      }
    }
  }
});
