/**
 * The recipe parts of the training engines, on torch (where its addon is built) and tfjs-wasm:
 * AdamW against torch.optim.AdamW (python3 with torch, else skipped), soft-target cross-entropy against
 * torch's F.cross_entropy with probability targets and across engines, drop-path (timm's per-block
 * rates, a dropped branch gets no gradient, engines agree on the same seed), and gradient accumulation
 * (accumulated micro-batch gradients = the weighted sum of lossAndGrads).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { describe, it } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { dropPathMasks, dropPathRates } from '../src/arch/drop-path.js';
import { initWeights } from '../src/arch/init.js';
import { paramSpecs } from '../src/arch/params.js';
import { buildRegNet } from '../src/arch/regnet.js';
import { buildModel } from '../src/arch/zoo.js';
import { createTfjsEngine } from '../src/engine/tfjs/engine.js';
import { softCrossEntropy } from '../src/engine/tfjs/net.js';
import { createTorchEngine } from '../src/engine/torch/engine.js';
import { ADAMW_DEFAULTS, type AdamWOptions, type Engine, type MixedTarget } from '../src/engine/types.js';
import { Rng } from '../src/util/rng.js';
import { randomizedWeights } from './helpers/agreement.js';
import { findPython, torchSkip } from './helpers/fixtures.js';
import { maxDiff, maxRel } from './helpers/numeric.js';

const python = findPython(['torch']);
const noPython = python ? false : 'python3 with torch not found (set PYTHON=)';
const torchReason = torchSkip();

const engines: Array<{ name: string; make: () => Promise<Engine>; skip: string | false }> = [
  { name: 'torch', make: async () => createTorchEngine({ threads: 2 }), skip: torchReason },
  { name: 'wasm', make: () => createTfjsEngine('wasm'), skip: false },
];

const rng = new Rng(17);
const rand = (n: number) => new Float32Array(n).map(() => rng.normal());
const labels = (n: number, k: number) => new Int32Array(n).map(() => rng.int(0, k - 1));

/** A small RegNetY (SE gates, two stages, 4 residual blocks), 10 classes, 12x12 input. */
const tinyNet = () =>
  buildRegNet({ depth: 4, w0: 16, wa: 8, wm: 2, groupSize: 8, seRatio: 0.25 }, { res: 12, numClasses: 10, stem: 'small' });

function runPython(script: string, input: unknown): unknown {
  const r = spawnSync(python!, ['-c', script], { input: JSON.stringify(input), encoding: 'utf8', maxBuffer: 1 << 28 });
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout);
}

const ADAMW_PY = `
import json, sys, torch
d = json.load(sys.stdin)
names = d['names']
ps = {n: torch.tensor(d['w0'][n], dtype=torch.float32).reshape(d['shapes'][n]).requires_grad_() for n in names}
groups = [{'params': [ps[n] for n in names if d['decay'][n]], 'weight_decay': d['wd']},
          {'params': [ps[n] for n in names if not d['decay'][n]], 'weight_decay': 0.0}]
opt = torch.optim.AdamW(groups, lr=d['lrs'][0])
for k, gs in enumerate(d['grads']):
    for g in opt.param_groups: g['lr'] = d['lrs'][k]
    for n in names: ps[n].grad = torch.tensor(gs[n], dtype=torch.float32).reshape(d['shapes'][n])
    opt.step()
print(json.dumps({n: ps[n].detach().reshape(-1).tolist() for n in names}))
`;

for (const e of engines) {
  describe(`recipes on the ${e.name} engine`, { skip: e.skip }, () => {
    it(
      'AdamW steps equal torch.optim.AdamW given the same gradients (decoupled decay on conv/fc weights only)',
      { skip: noPython },
      async () => {
        const engine = await e.make();
        const net = tinyNet();
        const c = engine.compile(net, initWeights(net, 5));
        const specs = paramSpecs(net).filter((s) => s.trainable);
        const n = 6;
        const x = rand(n * 3 * 144);
        const y = labels(n, 10);
        const w0 = c.getWeights();
        const lrs = [0.01, 0.02, 0.005];
        const grads: Array<Record<string, number[]>> = [];
        for (const lr of lrs) {
          const g = c.lossAndGrads(x, y, n, 0.1).grads;
          grads.push(Object.fromEntries(specs.map((s) => [s.name, [...g.get(s.name)!.data]])));
          const opt: AdamWOptions = { optimizer: 'adamw', lr, weightDecay: 0.05, ...ADAMW_DEFAULTS, labelSmoothing: 0.1 };
          c.trainStep(x, y, n, opt);
        }
        const ref = runPython(ADAMW_PY, {
          names: specs.map((s) => s.name),
          shapes: Object.fromEntries(specs.map((s) => [s.name, s.shape])),
          decay: Object.fromEntries(specs.map((s) => [s.name, s.decay])),
          w0: Object.fromEntries(specs.map((s) => [s.name, [...w0.get(s.name)!.data]])),
          wd: 0.05,
          lrs,
          grads,
        }) as Record<string, number[]>;
        const got = c.getWeights();
        let worst = 0;
        for (const s of specs) worst = Math.max(worst, maxDiff(got.get(s.name)!.data, ref[s.name]!));
        assert.ok(worst < 2e-6, `max |ours - torch.optim.AdamW| = ${worst}`);
        // the weights really moved by AdamW-sized steps
        assert.ok(maxDiff(got.get(specs[0]!.name)!.data, w0.get(specs[0]!.name)!.data) > 1e-3);
        // the state round-trips through a checkpoint: a fresh net continued from it matches step for step
        const state = c.getOptimizerState();
        assert.deepEqual([...state.get('adamw.step')!.data], [3]);
        const d = engine.compile(net, got);
        d.setOptimizerState(state);
        const opt: AdamWOptions = { optimizer: 'adamw', lr: 0.01, weightDecay: 0.05, ...ADAMW_DEFAULTS, labelSmoothing: 0 };
        c.trainStep(x, y, n, opt);
        d.trainStep(x, y, n, opt);
        for (const [k, v] of c.getWeights()) assert.deepEqual(d.getWeights().get(k)!.data, v.data, `${k} after resume`);
        c.dispose();
        d.dispose();
      },
    );

    it('gradient accumulation: K micro-batches give the weighted sum of their lossAndGrads gradients', async () => {
      const engine = await e.make();
      const net = tinyNet();
      const c = engine.compile(net, initWeights(net, 6));
      const sample = 3 * 144;
      const sizes = [4, 4, 2];
      const total = sizes.reduce((a, b) => a + b, 0);
      const x = rand(total * sample);
      const y = labels(total, 10);
      const parts = sizes.map((m, j) => {
        const start = sizes.slice(0, j).reduce((a, b) => a + b, 0);
        return { m, x: x.subarray(start * sample, (start + m) * sample), y: y.subarray(start, start + m) };
      });
      const expected = new Map<string, Float32Array>();
      for (const p of parts) {
        for (const [k, g] of c.lossAndGrads(p.x, p.y, p.m, 0.1).grads) {
          const acc = expected.get(k) ?? new Float32Array(g.data.length);
          for (let i = 0; i < acc.length; i++) acc[i] = acc[i]! + (p.m / total) * g.data[i]!;
          expected.set(k, acc);
        }
      }
      const before = c.getWeights();
      for (const p of parts) c.accumulateGrads(p.x, p.y, p.m, { labelSmoothing: 0.1, lossScale: p.m / total });
      // plain SGD with lr 1: the update is the accumulated gradient itself
      c.applyUpdate({ lr: 1, momentum: 0, nesterov: false, weightDecay: 0, labelSmoothing: 0 });
      const after = c.getWeights();
      for (const [k, g] of expected) {
        const w0 = before.get(k)!.data;
        const w1 = after.get(k)!.data;
        const step = w0.map((v, i) => v - w1[i]!);
        assert.ok(maxRel(step, g) < 1e-4, `${k}: accumulated step vs sum of gradients ${maxRel(step, g)}`);
      }
      c.dispose();
    });

    it('drop-path: a dropped branch gets no gradient, kept ones are scaled by 1/keep', async () => {
      const engine = await e.make();
      const net = tinyNet();
      const c = engine.compile(net, randomizedWeights(net, 7, { beta: 0.5, lastGamma: 0.5 }));
      const rates = dropPathRates(net, 0.6);
      const lastAdd = Math.max(...rates.keys());
      // a seed that drops the last block's branch for both samples
      let seed = 0;
      while (
        dropPathMasks(rates, 2, seed)
          .get(lastAdd)!
          .some((v) => v !== 0)
      )
        seed++;
      const x = rand(2 * 3 * 144);
      const y = labels(2, 10);
      const { grads } = c.lossAndGrads(x, y, 2, 0, { rate: 0.6, seed });
      const lastBlock = net.nodes
        .filter((nd) => nd.op === 'conv' && nd.id < lastAdd)
        .map((nd) => (nd.op === 'conv' ? nd.name : ''))
        .filter((name) => name.startsWith(nameOfBlock(net, lastAdd)));
      assert.ok(lastBlock.length >= 3, `convs of the last block: ${lastBlock.join(', ')}`);
      for (const name of lastBlock)
        assert.ok(
          grads.get(`${name}.weight`)!.data.every((v) => v === 0),
          `${name}: zero gradient`,
        );
      const plain = c.lossAndGrads(x, y, 2, 0).grads;
      assert.ok(
        plain.get(`${lastBlock[0]!}.weight`)!.data.some((v) => v !== 0),
        'without drop-path the block learns',
      );
      c.dispose();
    });
  });
}

/** The block prefix (e.g. s2.b2.) of the convs that feed a residual add. */
function nameOfBlock(net: ReturnType<typeof tinyNet>, addId: number): string {
  const add = net.nodes[addId]!;
  if (add.op !== 'add') throw new Error('not an add');
  for (let i = add.inputs[0]; i >= 0; i--) {
    const nd = net.nodes[i]!;
    if (nd.op === 'conv' || nd.op === 'bn') return nd.name.split('.').slice(0, 2).join('.') + '.';
  }
  throw new Error('no conv before the add');
}

describe('engines agree on recipe steps', { skip: torchReason }, () => {
  it('mixed (soft) targets and drop-path: torch and wasm losses and gradients', async () => {
    const net = tinyNet();
    const w = randomizedWeights(net, 8, { beta: 0.5, lastGamma: 0.5 });
    const a = createTorchEngine({ threads: 2 }).compile(net, w);
    const b = (await createTfjsEngine('wasm')).compile(net, w);
    const n = 6;
    const x = rand(n * 3 * 144);
    const y1 = labels(n, 10);
    const target: MixedTarget = { labels: [y1, y1.slice().reverse()], weights: [0.7, 0.3] };
    const dp = { rate: 0.3, seed: 4 };
    const ra = a.lossAndGrads(x, target, n, 0.1, dp);
    const rb = b.lossAndGrads(x, target, n, 0.1, dp);
    assert.ok(Math.abs(ra.loss - rb.loss) < 1e-5 * Math.abs(rb.loss), `loss ${ra.loss} vs ${rb.loss}`);
    for (const [k, g] of rb.grads)
      assert.ok(maxRel(ra.grads.get(k)!.data, g.data) < 1e-4, `${k}: ${maxRel(ra.grads.get(k)!.data, g.data)}`);
    // and drop-path changed something
    const r0 = a.lossAndGrads(x, target, n, 0.1);
    assert.notEqual(r0.loss, ra.loss);
    a.dispose();
    b.dispose();
  });
});

describe('soft-target cross-entropy and drop-path rates', () => {
  it("equals torch's F.cross_entropy with a probability target and label smoothing", { skip: noPython }, async () => {
    await createTfjsEngine('cpu');
    tf.setBackend('cpu');
    const n = 5;
    const k = 7;
    const logits = rand(n * k).map((v) => 3 * v);
    const ys = [labels(n, k), labels(n, k), labels(n, k)];
    const weights = [0.5, 0.3, 0.2];
    const ours = tf.tidy(() =>
      softCrossEntropy(
        tf.tensor2d(logits, [n, k]),
        ys.map((l) => tf.tensor1d(l, 'int32')),
        weights,
        0.1,
      ).dataSync(),
    )[0]!;
    const ref = runPython(
      `
import json, sys, torch
import torch.nn.functional as F
d = json.load(sys.stdin)
z = torch.tensor(d['logits']).reshape(d['n'], d['k'])
t = sum(w * F.one_hot(torch.tensor(y), d['k']).float() for w, y in zip(d['weights'], d['ys']))
print(json.dumps(F.cross_entropy(z, t, label_smoothing=0.1).item()))
`,
      { logits: [...logits], n, k, ys: ys.map((l) => [...l]), weights },
    ) as number;
    assert.ok(Math.abs(ours - ref) < 1e-5 * Math.abs(ref), `${ours} vs torch ${ref}`);
  });

  it('per-block rates follow timm: RegNet linspace(0, R, blocks), ResNet R * idx / (blocks - 1), EfficientNet R * idx / blocks', () => {
    const regnet = buildModel('regnetx_002');
    const rates = dropPathRates(regnet, 0.1);
    const adds = regnet.nodes.filter((nd) => nd.op === 'add').map((nd) => nd.id);
    assert.equal(adds.length, 13);
    // torch.linspace(0, 0.1, 13): block 0 gets 0 (no entry), the last 0.1
    adds.forEach((id, i) => assert.ok(Math.abs((rates.get(id) ?? 0) - (0.1 * i) / 12) < 1e-15, `block ${i}`));
    const resnet = buildModel('resnet18');
    const r2 = dropPathRates(resnet, 0.2);
    const adds2 = resnet.nodes.filter((nd) => nd.op === 'add').map((nd) => nd.id);
    assert.equal(adds2.length, 8);
    adds2.forEach((id, i) => assert.ok(Math.abs((r2.get(id) ?? 0) - (0.2 * i) / 7) < 1e-15, `block ${i}`));
    assert.equal(dropPathRates(resnet, 0).size, 0);
    // EfficientNet-B0: R * idx / 16 over all 16 blocks (repeats 1,2,2,3,3,4,1); only the blocks that keep
    // their shape have an add: indices 2, 4, 6, 7, 9, 10, 12, 13, 14
    const eff = buildModel('efficientnet_b0');
    const r3 = dropPathRates(eff, 0.2);
    const adds3 = eff.nodes.filter((nd) => nd.op === 'add').map((nd) => nd.id);
    assert.deepEqual(
      adds3.map((id) => Math.round(((r3.get(id) ?? 0) / 0.2) * 16 * 1e9) / 1e9),
      [2, 4, 6, 7, 9, 10, 12, 13, 14],
    );
    // masks: 0 or 1/keep, about keep of them kept
    const masks = dropPathMasks(new Map([[1, 0.25]]), 20000, 3).get(1)!;
    assert.ok(masks.every((v) => v === 0 || Math.abs(v - 1 / 0.75) < 1e-6));
    const kept = masks.filter((v) => v !== 0).length / 20000;
    assert.ok(Math.abs(kept - 0.75) < 0.015, `kept ${kept}`);
    // the same seed gives the same masks
    assert.deepEqual(dropPathMasks(rates, 8, 5), dropPathMasks(rates, 8, 5));
  });
});
