/**
 * The recipe options in the trainer: timm's batch-mode mixup/cutmix on known pixels (box, corrected lam,
 * mirrored pairs, labels), the Beta sampler's moments, and runs with every option on (AdamW, EMA,
 * mixup + cutmix, drop-path, gradient accumulation): stop-and-resume gives the same bytes as an
 * uninterrupted run (optimizer state, EMA and random draws all restored), the EMA is saved beside the
 * weights and gets its own results row, and --resume of a finished run with more epochs extends it.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import type { ModelSpec } from '../src/arch/spec.js';
import type { MixedTarget } from '../src/engine/types.js';
import { readCsv } from '../src/results/csv.js';
import { EMA_FILE, MODEL_FILE, OPTIMIZER_FILE, readCheckpointState } from '../src/train/checkpoint.js';
import { WeightEma } from '../src/train/ema.js';
import { evaluateCheckpoint } from '../src/train/eval-checkpoint.js';
import { cutmixBox, mixBatch, sampleBeta } from '../src/train/mixup.js';
import { trainModel } from '../src/train/run.js';
import type { TrainRequest } from '../src/train/types.js';
import { readSafetensorsF32 } from '../src/io/safetensors.js';
import { Rng } from '../src/util/rng.js';
import { trainEngine } from './helpers/fixtures.js';

describe('mixup and cutmix (timm batch mode)', () => {
  const shape = { n: 3, c: 2, h: 4, w: 5 };
  const size = shape.c * shape.h * shape.w;
  // sample i holds the value 10 * (i + 1) + channel everywhere
  const batch = () => {
    const x = new Float32Array(shape.n * size);
    for (let i = 0; i < shape.n; i++) for (let k = 0; k < size; k++) x[i * size + k] = 10 * (i + 1) + Math.floor(k / (shape.h * shape.w));
    return x;
  };
  const y = Int32Array.from([4, 7, 9]);

  it('cutmix pastes the mirrored sample into the clipped box and corrects lam to its area', () => {
    const settings = { mixup: 0, cutmix: 1, mixupProb: 1, mixupSwitchProb: 0.5 };
    let seen = 0;
    for (let seed = 0; seed < 40; seed++) {
      const x = batch();
      const r = mixBatch(x, y, shape, settings, new Rng(seed));
      assert.equal(r.cutmix, true);
      const t = r.target as MixedTarget;
      assert.deepEqual([...t.labels[1]!], [9, 7, 4], 'labels of the mirrored samples');
      assert.ok(Math.abs(t.weights[0]! + t.weights[1]! - 1) < 1e-12);
      // the pixels that changed are exactly a box; 1 - lam is its share of the image
      let changed = 0;
      for (let i = 0; i < shape.n; i++) {
        const j = shape.n - 1 - i;
        for (let k = 0; k < size; k++) {
          const ch = Math.floor(k / (shape.h * shape.w));
          const v = x[i * size + k]!;
          assert.ok(v === 10 * (i + 1) + ch || v === 10 * (j + 1) + ch);
          if (i === 0 && ch === 0 && v !== 10 * (i + 1) + ch) changed++;
        }
      }
      assert.ok(Math.abs(r.lam - (1 - changed / (shape.h * shape.w))) < 1e-12, `seed ${seed}: lam ${r.lam} vs box ${changed}`);
      if (changed > 0) seen++;
    }
    assert.ok(seen > 10, 'boxes were cut');
  });

  it('rand_bbox: cut int(h*sqrt(1-lam)) x int(w*sqrt(1-lam)) around a centre, clipped', () => {
    const rng = new Rng(3);
    for (let t = 0; t < 200; t++) {
      const lam = rng.next();
      const probe = new Rng(t);
      const cy = new Rng(t).int(0, 31);
      const b = cutmixBox(32, 48, lam, probe);
      const cutH = Math.trunc(32 * Math.sqrt(1 - lam));
      assert.equal(b.y0, Math.max(0, cy - Math.floor(cutH / 2)));
      assert.equal(b.y1, Math.min(32, cy + Math.floor(cutH / 2)));
      assert.ok(b.x0 >= 0 && b.x1 <= 48 && b.x0 <= b.x1);
      assert.equal(b.lam, 1 - ((b.y1 - b.y0) * (b.x1 - b.x0)) / (32 * 48));
    }
  });

  it('mixup blends each sample with its mirror: lam * x + (1 - lam) * x.flip(0)', () => {
    const x = batch();
    const r = mixBatch(x, y, shape, { mixup: 0.4, cutmix: 0, mixupProb: 1, mixupSwitchProb: 0.5 }, new Rng(11));
    assert.equal(r.cutmix, false);
    assert.ok(r.lam > 0 && r.lam < 1);
    const orig = batch();
    for (let i = 0; i < shape.n; i++)
      for (let k = 0; k < size; k++) {
        const want = r.lam * orig[i * size + k]! + (1 - r.lam) * orig[(shape.n - 1 - i) * size + k]!;
        assert.ok(Math.abs(x[i * size + k]! - want) < 1e-5 * Math.abs(want));
      }
    // mixup-prob 0: nothing mixed, the hard labels come back
    const x2 = batch();
    const none = mixBatch(x2, y, shape, { mixup: 0.4, cutmix: 1, mixupProb: 0, mixupSwitchProb: 0.5 }, new Rng(1));
    assert.equal(none.target, y);
    assert.deepEqual(x2, batch());
  });

  it('Beta(a, a) draws have the Beta mean and variance', () => {
    const rng = new Rng(5);
    for (const a of [0.2, 1, 3]) {
      const n = 40000;
      let s = 0,
        s2 = 0;
      for (let i = 0; i < n; i++) {
        const v = sampleBeta(rng, a, a);
        assert.ok(v >= 0 && v <= 1);
        s += v;
        s2 += v * v;
      }
      const mean = s / n;
      const variance = s2 / n - mean * mean;
      const want = (a * a) / (4 * a * a * (2 * a + 1));
      assert.ok(Math.abs(mean - 0.5) < 0.01, `a=${a}: mean ${mean}`);
      assert.ok(Math.abs(variance - want) < 0.03 * want + 0.002, `a=${a}: var ${variance} vs ${want}`);
    }
  });

  it('the EMA follows ema = d * ema + (1 - d) * w', () => {
    const e = new WeightEma(0.9, new Map([['a', { shape: [2], data: Float32Array.of(1, 2) }]]));
    e.update(new Map([['a', { shape: [2], data: Float32Array.of(3, 0) }]]));
    e.update(new Map([['a', { shape: [2], data: Float32Array.of(3, 0) }]]));
    const got = e.weights.get('a')!.data;
    assert.ok(Math.abs(got[0]! - (0.81 * 1 + 0.09 * 3 + 0.1 * 3)) < 1e-6);
    assert.ok(Math.abs(got[1]! - 0.81 * 2) < 1e-6);
  });
});

const TINY: ModelSpec = {
  kind: 'anynet',
  stages: [8, 16].map((w) => ({ depth: 2, width: w, bottleRatio: 1, groupWidth: 8 })),
  seRatio: 0,
  act: 'relu',
  norm: 'bn',
  stemWidth: 8,
};
const engine = trainEngine();

function request(dir: string, results: string, extra: Partial<TrainRequest> = {}): TrainRequest {
  return {
    model: { name: 'tiny_anynet', spec: TINY },
    dataset: 'mnist',
    engine,
    threads: 1,
    seed: 3,
    progress: 'none',
    bench: false,
    // 96 images, micro-batches of 16, 2 per step: 3 steps per epoch
    limitTrain: 96,
    limitVal: 50,
    overrides: {
      epochs: 2,
      batchSize: 16,
      gradAccumSteps: 2,
      lr: 0.003,
      opt: 'adamw',
      weightDecay: 0.05,
      ema: true,
      emaDecay: 0.9,
      mixup: 0.2,
      cutmix: 1,
      dropPath: 0.1,
      labelSmoothing: 0.1,
    },
    checkpointDir: dir,
    resultsDir: results,
    ...extra,
  };
}

const bytes = (dir: string, f: string) => readFileSync(join(dir, f));

describe(`training with every recipe option (${engine})`, () => {
  it('stop and resume == uninterrupted, bit for bit (weights, AdamW state, EMA); EMA row and file written', async () => {
    const full = mkdtempSync(join(tmpdir(), 'regnet-rec-'));
    const res = mkdtempSync(join(tmpdir(), 'regnet-rec-res-'));
    const a = await trainModel(request(full, res));
    assert.equal(a.status, 'ok');
    assert.equal(a.steps, 6);
    assert.ok(a.emaTop1 !== undefined && Number.isFinite(a.emaTop1));
    for (const f of [MODEL_FILE, OPTIMIZER_FILE, EMA_FILE]) assert.ok(existsSync(join(full, f)), f);
    const opt = readSafetensorsF32(join(full, OPTIMIZER_FILE));
    assert.deepEqual([...opt.get('adamw.step')!.data], [6]);
    const ema = readSafetensorsF32(join(full, EMA_FILE));
    const raw = readSafetensorsF32(join(full, MODEL_FILE));
    const k = 's1.b1.conv1.conv.weight';
    assert.ok(ema.has(k) && raw.has(k), [...raw.keys()].slice(0, 5).join());
    assert.notDeepEqual(ema.get(k)!.data, raw.get(k)!.data);

    const rows = readCsv(a.resultsFile!);
    const labels = rows.map((r) => r.recipe).sort();
    const base =
      'digits[epochs=2,batch_size=16,lr=0.003,wd=0.05,label_smoothing=0.1,limit_train=96,opt=adamw,ema=0.9,mixup=0.2,cutmix=1,drop_path=0.1,grad_accum=2';
    assert.deepEqual(labels, [`${base},weights=ema]`, `${base}]`]);
    assert.equal(rows.find((r) => r.recipe!.endsWith('weights=ema]'))!.top1, a.emaTop1!.toFixed(3));

    // eval --checkpoint --ema scores the saved EMA weights as the run did
    const again = await evaluateCheckpoint({ checkpointDir: full, ema: true, engine, threads: 1, progress: 'none' });
    assert.equal(again.top1, a.emaTop1);

    const part = mkdtempSync(join(tmpdir(), 'regnet-rec-'));
    const s1 = await trainModel(request(part, mkdtempSync(join(tmpdir(), 'regnet-rec-res-')), { stopAtStep: 2 }));
    assert.equal(s1.status, 'interrupted');
    const s2 = await trainModel(request(part, mkdtempSync(join(tmpdir(), 'regnet-rec-res-')), { resume: true }));
    assert.equal(s2.status, 'ok');
    for (const f of [MODEL_FILE, OPTIMIZER_FILE, EMA_FILE]) assert.ok(bytes(full, f).equals(bytes(part, f)), `${f} differs after resume`);
    assert.equal(s2.top1, a.top1);
    assert.equal(s2.emaTop1, a.emaTop1);
  });

  it('--resume of a finished run with more epochs extends it and says so in the results row', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'regnet-rec-'));
    const res = mkdtempSync(join(tmpdir(), 'regnet-rec-res-'));
    const plain = { epochs: 1, batchSize: 32, lr: 0.05 };
    const first = await trainModel(request(dir, res, { overrides: plain }));
    assert.equal(first.steps, 3);
    const more = await trainModel(request(dir, res, { resume: true, overrides: { ...plain, epochs: 3 } }));
    assert.equal(more.status, 'ok');
    assert.equal(more.steps, 9);
    const st = readCheckpointState(dir);
    assert.deepEqual([st.status, st.globalStep, st.config.epochs, st.config.totalSteps], ['finished', 9, 3, 9]);
    assert.deepEqual(st.extendedFrom, [1]);
    const recipes = readCsv(more.resultsFile!).map((r) => r.recipe);
    assert.ok(recipes.includes('digits[epochs=1,batch_size=32,lr=0.05,limit_train=96]'), recipes.join(' | '));
    assert.ok(recipes.includes('digits[epochs=3,batch_size=32,lr=0.05,limit_train=96,resumed_from=1]'), recipes.join(' | '));
    // a run that is not finished keeps refusing another length
    const other = mkdtempSync(join(tmpdir(), 'regnet-rec-'));
    await trainModel(request(other, res, { overrides: plain, stopAtStep: 1 }));
    await assert.rejects(trainModel(request(other, res, { resume: true, overrides: { ...plain, epochs: 3 } })), /different epochs/);
  });
});
