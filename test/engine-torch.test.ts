/**
 * The torch engine on IR networks: parameter counts vs the reference table, the SGD step vs the
 * gradients it was computed from (decay mask, momentum), weight round trips and errors, memory that
 * stays flat over 50 steps, a loss that falls on a fixed batch, device and dispose behaviour.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { buildRegNet } from '../src/arch/regnet.js';
import { initWeights } from '../src/arch/init.js';
import { paramSpecs, numel } from '../src/arch/params.js';
import { buildModel } from '../src/arch/zoo.js';
import { createTorchEngine } from '../src/engine/torch/engine.js';
import { torchAddon, torchAvailable } from '../src/engine/torch/native.js';
import type { SgdOptions } from '../src/engine/types.js';
import { UsageError } from '../src/util/errors.js';
import { Rng } from '../src/util/rng.js';
import { zooReference } from './helpers/fixtures.js';

const avail = torchAvailable();
const skip = avail.ok ? false : `torch addon unavailable: ${avail.reason}`;
if (skip) console.log(`# skipping torch engine tests: ${skip}`);

const rng = new Rng(99);
const rand = (n: number) => new Float32Array(n).map(() => rng.normal());
const labels = (n: number, k: number) => new Int32Array(n).map(() => rng.int(0, k - 1));

/** A small RegNetY-like net: SE gates, a stride-2 stage, 10 classes, 16x16 input. */
const tinyNet = () =>
  buildRegNet({ depth: 3, w0: 16, wa: 8, wm: 2, groupSize: 8, seRatio: 0.25 }, { res: 16, numClasses: 10, stem: 'small' });

describe('torch engine', { skip }, () => {
  it('allocates exactly the analytic parameter count (reference table at 224)', () => {
    const rows = new Map(zooReference().map((r) => [r.model, r.param_count]));
    const engine = createTorchEngine({ threads: 2 });
    for (const name of ['regnetx_002', 'regnety_002', 'resnet18']) {
      const net = buildModel(name);
      const c = engine.compile(net);
      const analytic = paramSpecs(net)
        .filter((p) => p.trainable)
        .reduce((s, p) => s + numel(p.shape), 0);
      assert.equal(c.paramCount(), analytic, `${name} vs paramSpecs`);
      if (rows.has(name)) assert.equal(c.paramCount(), rows.get(name), `${name} vs zoo_224.csv`);
      c.dispose();
    }
  });

  it('trainStep applies SGD to the lossAndGrads gradients, decaying only conv/fc weights', () => {
    const net = tinyNet();
    const engine = createTorchEngine({ threads: 2 });
    const c = engine.compile(net, initWeights(net, 3));
    const n = 8;
    const x = rand(n * 3 * 16 * 16);
    const y = labels(n, 10);
    const w0 = c.getWeights();
    const { loss, grads } = c.lossAndGrads(x, y, n, 0.1);
    assert.ok(Number.isFinite(loss) && loss > 0);
    // lossAndGrads changes nothing, BN running stats included
    for (const [k, v] of c.getWeights()) assert.deepEqual(v.data, w0.get(k)!.data, `${k} unchanged by lossAndGrads`);
    const opt: SgdOptions = { lr: 0.1, momentum: 0.9, nesterov: true, weightDecay: 0.01, labelSmoothing: 0.1 };
    const r = c.trainStep(x, y, n, opt);
    assert.ok(Math.abs(r.loss - loss) < 1e-5, `same loss ${r.loss} vs ${loss}`);
    assert.ok(r.correct >= 0 && r.correct <= n);
    const w1 = c.getWeights();
    const specs = paramSpecs(net);
    let checked = 0;
    for (const s of specs) {
      const before = w0.get(s.name)!.data;
      const after = w1.get(s.name)!.data;
      if (!s.trainable) {
        if (s.role === 'bn_mean') assert.notDeepEqual(after, before, `${s.name}: running mean updated in train step`);
        continue;
      }
      const g = grads.get(s.name)!.data;
      assert.deepEqual(grads.get(s.name)!.shape, s.shape);
      // step 1 from zero momentum: buf = d, nesterov: p -= lr * (d + m * d)
      for (let i = 0; i < before.length; i += Math.max(1, before.length >> 4)) {
        const d = g[i]! + (s.decay ? opt.weightDecay * before[i]! : 0);
        const want = before[i]! - opt.lr * (1 + opt.momentum) * d;
        assert.ok(
          Math.abs(after[i]! - want) <= 1e-5 * Math.max(1, Math.abs(want)),
          `${s.name}[${i}] ${after[i]} vs ${want} (decay=${s.decay})`,
        );
        checked++;
      }
    }
    assert.ok(checked > 50);
    assert.equal(c.getOptimizerState().size, specs.filter((s) => s.trainable).length);
    c.dispose();
  });

  it('weights round-trip, bad names and shapes are usage errors', () => {
    const net = tinyNet();
    const c = createTorchEngine({ threads: 2 }).compile(net);
    const w = initWeights(net, 11);
    for (const v of w.values()) for (let i = 0; i < v.data.length; i++) v.data[i] = rng.normal();
    c.setWeights(w);
    for (const [k, v] of c.getWeights()) assert.deepEqual(v.data, w.get(k)!.data, k);
    assert.throws(() => c.setWeights(new Map([['nope.weight', { shape: [1], data: new Float32Array(1) }]])), UsageError);
    assert.throws(
      () => c.setWeights(new Map([['stem.conv.weight', { shape: [1], data: new Float32Array(1) }]])),
      /stem\.conv\.weight.*shape/,
    );
    const st = new Map([...w].filter(([k]) => paramSpecs(net).find((p) => p.name === k)!.trainable));
    c.setOptimizerState(st);
    for (const [k, v] of c.getOptimizerState()) assert.deepEqual(v.data, st.get(k)!.data, `momentum ${k}`);
    assert.throws(() => c.predict(new Float32Array(5), 1), /input: expected 1x3x16x16/);
    assert.throws(
      () =>
        c.trainStep(rand(3 * 256), new Int32Array([10]), 1, { lr: 0.1, momentum: 0, nesterov: false, weightDecay: 0, labelSmoothing: 0 }),
      /labels: 10/,
    );
    c.dispose();
    c.dispose();
    assert.throws(() => c.predict(rand(3 * 256), 1));
  });

  it('a train step on a fixed batch lowers the loss; predict is deterministic in eval mode', () => {
    const net = tinyNet();
    const c = createTorchEngine({ threads: 2 }).compile(net, initWeights(net, 5));
    const n = 16;
    const x = rand(n * 3 * 256);
    const y = labels(n, 10);
    const opt: SgdOptions = { lr: 0.1, momentum: 0.9, nesterov: false, weightDecay: 5e-4, labelSmoothing: 0 };
    const losses: number[] = [];
    for (let i = 0; i < 20; i++) losses.push(c.trainStep(x, y, n, opt).loss);
    assert.ok(losses[19]! < 0.5 * losses[0]!, `loss ${losses[0]} -> ${losses[19]} (${losses.map((l) => l.toFixed(2)).join(' ')})`);
    const p1 = c.predict(x, n);
    assert.deepEqual(c.predict(x, n), p1);
    assert.equal(p1.length, n * 10);
    c.dispose();
  });

  it('memory stays flat over 50 train steps (native tensor count and RSS)', () => {
    const a = torchAddon();
    const net = tinyNet();
    const c = createTorchEngine({ threads: 2 }).compile(net);
    const n = 16;
    const x = rand(n * 3 * 16 * 16);
    const y = labels(n, 10);
    const opt: SgdOptions = { lr: 0.01, momentum: 0.9, nesterov: false, weightDecay: 5e-5, labelSmoothing: 0.1 };
    let live = 0;
    let rss10 = 0;
    for (let i = 0; i < 50; i++) {
      c.trainStep(x, y, n, opt);
      if (i % 5 === 0) c.predict(x, n);
      if (i === 9) {
        live = a.liveCount();
        rss10 = process.memoryUsage.rss();
      }
    }
    assert.equal(a.liveCount(), live, 'no native tensor handles leak');
    const growth = (process.memoryUsage.rss() - rss10) / 2 ** 20;
    assert.ok(growth < 40, `RSS grew ${growth.toFixed(1)} MiB between step 10 and 50`);
    const before = a.liveCount();
    c.dispose();
    const specs = paramSpecs(net);
    assert.equal(
      a.liveCount(),
      before - specs.length - specs.filter((p) => p.trainable).length,
      'dispose frees parameters and momentum buffers',
    );
  });

  it('device and thread options are checked with clear messages', () => {
    const a = torchAddon();
    assert.throws(() => createTorchEngine({ device: 'tpu' }), /--device: 'tpu' is not one of cpu, cuda, cuda:N/);
    if (!a.cudaAvailable()) assert.throws(() => createTorchEngine({ device: 'cuda:0' }), /CUDA is not available/);
    assert.throws(() => createTorchEngine({ threads: 0 }), UsageError);
    const e = createTorchEngine({ threads: 2 });
    assert.equal(e.info.engine, 'torch');
    assert.equal(e.info.threads, 2);
    assert.equal(a.getNumThreads(), 2);
    assert.match(e.info.version, /^libtorch \d/);
  });
});
