/**
 * Short real trainings on MNIST (bundled) and Fashion-MNIST (when the Debian package is installed):
 * accuracy well above chance (10%), and the result files in their exact formats.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ModelSpec } from '../src/arch/spec.js';
import { fashionMnistDir } from '../src/data/resolve.js';
import { trainModel } from '../src/train/run.js';
import { RUNS_COLUMNS } from '../src/train/runs.js';
import { parseCsv } from '../src/results/csv.js';
import { RESULTS_COLUMNS, RESULTS_EXTRA_COLUMNS } from '../src/results/timm.js';
import { resolveAuto } from '../src/engine/select.js';

/** A 4-stage AnyNetX with one block per stage (widths 8..64): ~22k params, trains in seconds. */
const TINY: ModelSpec = {
  kind: 'anynet',
  stages: [8, 16, 32, 64].map((w) => ({ depth: 1, width: w, bottleRatio: 1, groupWidth: 8 })),
  seRatio: 0,
  act: 'relu',
  norm: 'bn',
  stemWidth: 16,
};

// torch with 1 thread: fastest on a busy 2-core machine; wasm where the addon is not built
const engine = (await resolveAuto()) === 'torch' ? 'torch' : 'wasm';

async function shortRun(dataset: string, resultsDir: string) {
  return trainModel({
    model: { name: 'tiny_anynet', spec: TINY },
    dataset,
    engine,
    threads: 1,
    seed: 1,
    progress: 'none',
    resultsDir,
    limitTrain: 2000,
    limitVal: 1000,
    // zero-initialised last BNs make tiny nets start slowly; a high peak lr makes up for it in 126 steps
    overrides: { epochs: 2, batchSize: 32, lr: 0.5, warmupEpochs: 0.2 },
  });
}

test('MNIST: 2,000 images, 2 epochs -> well above chance; result files in the exact format', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'regnet-train-'));
  const r = await shortRun('mnist', dir);
  assert.equal(r.status, 'ok');
  assert.equal(r.steps, 126); // ceil(2000 / 32) * 2
  assert.equal(r.epochs, 2);
  assert.ok(r.top1 > 70, `top1 ${r.top1}`);
  assert.ok(r.top5 >= r.top1 && r.top5 > 95, `top5 ${r.top5}`);
  assert.ok(Number.isFinite(r.finalLoss) && r.finalLoss < 1.5, `loss ${r.finalLoss}`);
  assert.equal(r.imgSize, 28);

  // a --limit-val subset goes to its own file, never into results-mnist.csv, and records n_images
  const text = readFileSync(join(dir, 'results-mnist-val1000.csv'), 'utf8');
  const lines = text.trimEnd().split('\n');
  // timm's nine columns first, unchanged, then ours
  assert.ok(lines[0]!.startsWith('model,img_size,top1,top1_err,top5,top5_err,param_count,crop_pct,interpolation,'));
  assert.equal(lines[0], [...RESULTS_COLUMNS, ...RESULTS_EXTRA_COLUMNS].join(','));
  assert.equal(lines.length, 2);
  const f = lines[1]!.split(',');
  assert.equal(f[0], 'tiny_anynet');
  assert.equal(f[1], '28');
  assert.equal(f[2], r.top1.toFixed(3));
  assert.equal(f[3], (100 - r.top1).toFixed(3));
  assert.equal(f[4], r.top5.toFixed(3));
  assert.equal(f[5], (100 - r.top5).toFixed(3));
  assert.equal(f[6], (r.params / 1e6).toFixed(2));
  assert.deepEqual(f.slice(7, 9), ['1.000', 'none']);
  // 1000 images: every accuracy is a multiple of 0.1
  assert.match(f[2]!, /^\d+\.\d00$/);
  const [row] = parseCsv(text, 'results');
  assert.deepEqual(
    [
      row!.flops,
      row!.acts,
      row!.train_batch_size,
      row!.engine,
      row!.threads,
      row!.stem,
      row!.in_chans,
      row!.epochs,
      row!.recipe,
      row!.seed,
      row!.n_images,
    ],
    [
      String(r.flops),
      String(r.acts),
      '32',
      engine,
      '1',
      'small',
      '3',
      '2',
      'digits[epochs=2,batch_size=32,lr=0.5,warmup_epochs=0.2,limit_train=2000]',
      '1',
      '1000',
    ],
  );
  assert.ok(Number(row!.infer_samples_per_sec) > 0 && Number(row!.train_samples_per_sec) > 0);
  assert.deepEqual(JSON.parse(row!.arch!), TINY);

  const runs = readFileSync(join(dir, 'runs.csv'), 'utf8').trimEnd().split('\n');
  assert.equal(runs[0], RUNS_COLUMNS.join(','));
  assert.equal(
    runs[0],
    'model,spec,dataset,engine,recipe,epochs,steps,batch_size,lr,img_size,in_chans,stem,seed,train_seconds,images_per_sec,params,flops,acts,final_loss,top1,top5,status,finished_at',
  );
  assert.equal(runs.length, 2);
  assert.match(
    runs[1]!,
    new RegExp(
      `^tiny_anynet,"\\{""kind"":""anynet"".*\\}",mnist,${engine},digits,2,126,32,0.5,28,3,small,1,\\d+\\.\\d,\\d+\\.\\d,${r.params},${r.flops},${r.acts},\\d\\.\\d{4},${r.top1.toFixed(3)},${r.top5.toFixed(3)},ok,\\d{4}-\\d\\d-\\d\\dT`,
    ),
  );
});

test(
  'Fashion-MNIST: 2,000 images, 2 epochs -> well above chance',
  { skip: fashionMnistDir() ? false : 'dataset-fashion-mnist is not installed' },
  async () => {
    const dir = mkdtempSync(join(tmpdir(), 'regnet-train-'));
    const r = await shortRun('fashion-mnist', dir);
    assert.equal(r.status, 'ok');
    assert.ok(r.top1 > 60, `top1 ${r.top1}`);
    const lines = readFileSync(join(dir, 'results-fashion-mnist-val1000.csv'), 'utf8').trimEnd().split('\n');
    assert.equal(lines.length, 2);
    assert.match(lines[1]!, /^tiny_anynet,28,\d+\.\d{3},\d+\.\d{3},\d+\.\d{3},\d+\.\d{3},0\.02,1\.000,none,.*,1000$/);
  },
);
