import { test } from 'node:test';
import assert from 'node:assert/strict';
import { bootstrapBest, bootstrapBinnedMin, edf, edfAt, pearson, percentiles, ranks, spearman, summarize } from '../src/analyze/stats.js';

const close = (a: number, b: number, tol = 1e-12) => assert.ok(Math.abs(a - b) <= tol, `${a} != ${b} (tol ${tol})`);

test('edf: step points and F(e) = #{err < e}/n with ties', () => {
  const e = edf([3, 1, 2, 2, NaN]);
  assert.deepEqual(e.x, [1, 2, 3]);
  assert.deepEqual(e.y, [0.25, 0.75, 1]);
  assert.equal(e.n, 4);
  assert.equal(edfAt([3, 1, 2, 2], 0.5), 0);
  assert.equal(edfAt([3, 1, 2, 2], 1), 0); // strict: a model with error exactly e is not counted
  assert.equal(edfAt([3, 1, 2, 2], 2), 0.25);
  assert.equal(edfAt([3, 1, 2, 2], 2.0001), 0.75);
  assert.equal(edfAt([3, 1, 2, 2], 99), 1);
});

test('summary and percentiles match numpy (linear interpolation)', () => {
  const s = summarize([4, 1, 3, 2]);
  assert.deepEqual([s.n, s.min, s.max, s.mean, s.median], [4, 1, 4, 2.5, 2.5]);
  close(s.std, Math.sqrt(5 / 3));
  assert.equal(summarize([5, 1, 9]).median, 5);
  const p = percentiles([10, 9, 8, 7, 6, 5, 4, 3, 2, 1], [2.5, 25, 50, 97.5]);
  [1.225, 3.25, 5.5, 9.775].forEach((v, i) => close(p[i]!, v, 1e-12));
  assert.equal(summarize([]).n, 0);
});

test('bootstrap of the best model matches the order-statistic distribution', () => {
  // errors 0..99, 25 drawn with replacement: P(best <= k) = 1 - ((99 - k) / 100)^25
  const n = 100;
  const errs = Array.from({ length: n }, (_, i) => i);
  const values = { twice: errs.map((e) => 2 * e) };
  const bb = bootstrapBest(errs, values, { samples: 20000, seed: 7 });
  assert.equal(bb.drawn, 25);
  const quant = (q: number) => {
    for (let k = 0; k < n; k++) if (1 - Math.pow((99 - k) / 100, 25) >= q) return k;
    return n - 1;
  };
  assert.equal(bb.err[0], quant(0.025)); // 0
  assert.ok(Math.abs(bb.err[1] - quant(0.5)) <= 1, `median ${bb.err[1]} vs ${quant(0.5)}`);
  assert.ok(Math.abs(bb.err[2] - quant(0.975)) <= 1, `97.5% ${bb.err[2]} vs ${quant(0.975)}`);
  // the design value of the best model follows the same draws
  assert.deepEqual(
    bb.values.twice,
    bb.err.map((e) => 2 * e),
  );
  // seeded: same seed, same answer
  assert.deepEqual(bootstrapBest(errs, values, { samples: 500, seed: 3 }), bootstrapBest(errs, values, { samples: 500, seed: 3 }));
});

test('bootstrap best region locates the good x range', () => {
  // error is lowest near x = 50: the best region must bracket it tightly
  const xs = Array.from({ length: 400 }, (_, i) => i / 4);
  const errs = xs.map((x) => Math.abs(x - 50));
  const bb = bootstrapBest(errs, { x: xs }, { samples: 4000, seed: 1 });
  const [lo, mid, hi] = bb.values.x!;
  assert.ok(lo >= 47 && lo <= 50 && hi >= 50 && hi <= 53 && Math.abs(mid - 50) <= 1, `[${lo}, ${mid}, ${hi}]`);
});

test('binned min-error band: constant errors per bin give a degenerate band at that value', () => {
  const xs = Array.from({ length: 100 }, (_, i) => i);
  const errs = xs.map((x) => Math.floor(x / 10) + 1);
  const band = bootstrapBinnedMin(xs, errs, { bins: 10, samples: 200, seed: 2 });
  assert.equal(band.x.length, 10);
  assert.deepEqual(band.count, new Array(10).fill(10));
  for (let k = 0; k < 10; k++) {
    assert.equal(band.lo[k], k + 1);
    assert.equal(band.hi[k], k + 1);
    close(band.x[k]!, 9.9 * k + 4.95, 1e-9);
  }
  // log bins: geometric centres; within a bin the band brackets the bootstrap min, lo <= mid <= hi
  const lx = Array.from({ length: 300 }, (_, i) => 8 * Math.pow(32, i / 299));
  const le = lx.map((x, i) => 30 + Math.abs(Math.log(x / 64)) + (i % 7) * 0.3);
  const lb = bootstrapBinnedMin(lx, le, { bins: 5, log: true, samples: 300, seed: 4 });
  assert.equal(lb.x.length, 5);
  close(lb.x[0]!, Math.sqrt(8 * 8 * Math.pow(32, 0.2)), 1e-9);
  for (let k = 0; k < 5; k++) assert.ok(lb.lo[k]! <= lb.mid[k]! && lb.mid[k]! <= lb.hi[k]!);
  // the band's lower edge is never below the bin's true minimum
  const trueMin = Math.min(...le.filter((_, i) => lx[i]! < lb.edges[1]!));
  assert.ok(lb.lo[0]! >= trueMin - 1e-12);
});

test('binned band over few distinct values: one bin per value, min error known', () => {
  const gs = [8, 16, 32, 64];
  const xs = Array.from({ length: 80 }, (_, i) => gs[i % 4]!);
  const errs = xs.map((g, i) => 30 + Math.log2(g) + (i % 5)); // min per value: 30 + log2(g)
  const band = bootstrapBinnedMin(xs, errs, { bins: 8, log: true, samples: 2000, seed: 5, frac: 1 });
  assert.deepEqual(band.x, gs);
  assert.deepEqual(band.count, [20, 20, 20, 20]);
  // drawing all 20 of a value's models with replacement misses its minimum with prob (1 - 4/20)^20 ~ 1%
  gs.forEach((g, k) => {
    assert.equal(band.lo[k], 30 + Math.log2(g));
    assert.equal(band.mid[k], 30 + Math.log2(g));
  });
});

test('pearson and spearman', () => {
  close(pearson([1, 2, 3, 4], [3, 5, 7, 9]), 1);
  close(pearson([1, 2, 3, 4], [4, 3, 2, 1]), -1);
  close(spearman([1, 2, 3, 4, 5], [1, 8, 27, 64, 125]), 1);
  assert.ok(pearson([1, 2, 3, 4, 5], [1, 8, 27, 64, 125]) < 0.99);
  // ties take average ranks (scipy.stats.spearmanr: 0.8207826816681234)
  assert.deepEqual(ranks([5, 6, 7, 8, 7]), [1, 2, 3.5, 5, 3.5]);
  close(spearman([1, 2, 3, 4, 5], [5, 6, 7, 8, 7]), 0.8207826816681234, 1e-12);
  close(pearson([1, 2, 3, 4, 5], [5, 6, 7, 8, 7]), 0.8320502943378437, 1e-12);
  assert.ok(Number.isNaN(pearson([1, 1, 1], [1, 2, 3])));
  assert.ok(Number.isNaN(spearman([1], [2])));
  // non-finite pairs are dropped
  close(pearson([1, NaN, 2, 3], [2, 5, 4, 6]), 1);
});
