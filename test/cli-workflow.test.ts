/**
 * The workflow end to end (issue 11): samples from two seeds and a ResNet baseline trained in one
 * `regnet train` command land as one row per network in one results table, with params, flops, top-1
 * and both throughputs; a rerun trains nothing. Below it, the pieces with a stand-in trainer: a
 * multi-model train resumes the model in flight, and a sweep takes a samples file and baselines.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { canonicalName } from '../src/arch/identity.js';
import { ModelSpecSchema } from '../src/arch/spec.js';
import { zooEntry } from '../src/arch/zoo.js';
import { trainSweepConfig } from '../src/cli/train-many.js';
import { fashionMnistDir } from '../src/data/resolve.js';
import { parseCsv } from '../src/results/csv.js';
import { readConfigs } from '../src/results/samples.js';
import { RESULTS_COLUMNS, RESULTS_EXTRA_COLUMNS } from '../src/results/timm.js';
import { loadSweepConfig, parseSweepConfig, resolveSweep } from '../src/sweep/config.js';
import { fromSpec, sweepEntries } from '../src/sweep/models.js';
import { readRows } from '../src/sweep/rows.js';
import { runSweep, type TrainFn } from '../src/sweep/run.js';
import type { TrainRequest, TrainResult } from '../src/train/types.js';
import { runCli } from './helpers/cli.js';
import { trainEngine } from './helpers/fixtures.js';

const tmp = () => mkdtempSync(join(tmpdir(), 'regnet-workflow-'));
const ENGINE = trainEngine();

test(
  'two samples files and a ResNet baseline, one train command: one row per network in one results table',
  { skip: fashionMnistDir() ? false : 'dataset-fashion-mnist is not installed' },
  () => {
    const d = tmp();
    for (const seed of [1, 2]) {
      const s = runCli([
        'sample',
        '--space',
        'regnetx_small',
        '--n',
        '2',
        '--seed',
        String(seed),
        '--flops',
        '1M:6M',
        '--out',
        join(d, `s${seed}.csv`),
      ]);
      assert.equal(s.code, 0, s.stderr);
    }
    const a = readConfigs(join(d, 's1.csv'));
    const b = readConfigs(join(d, 's2.csv'));
    // both files number their rows 0, 1: the rows are told apart by their networks' names
    assert.deepEqual(
      [a.map((r) => r.id), b.map((r) => r.id)],
      [
        ['0', '1'],
        ['0', '1'],
      ],
    );
    const expected = ['resnet18', ...a.map((r) => r.name), ...b.map((r) => r.name)];
    assert.equal(new Set(expected).size, 5);

    const args = [
      'train',
      'resnet18',
      '--configs',
      join(d, 's1.csv'),
      '--configs',
      join(d, 's2.csv'),
      '--dataset',
      'fashion-mnist',
      '--in-chans',
      '1',
      '--res',
      '28',
      '--stem',
      'small',
      '--steps',
      '1',
      '--batch-size',
      '16',
      '--limit-train',
      '64',
      '--limit-val',
      '32',
      '--engine',
      ENGINE,
      '--threads',
      '2',
      '--progress',
      'none',
      '--results-dir',
      join(d, 'results'),
      '--checkpoint',
      join(d, 'run'),
    ];
    const t = runCli(args, { timeoutMs: 300_000 });
    assert.equal(t.code, 0, t.stderr);
    assert.match(t.stderr, /5\/5 models \(5 ok, 0 diverged, 0 failed; 5 trained now, 0 already done\)/);

    const file = join(d, 'results', 'results-fashion-mnist-val32.csv');
    const text = readFileSync(file, 'utf8');
    assert.equal(text.split('\n')[0], [...RESULTS_COLUMNS, ...RESULTS_EXTRA_COLUMNS].join(','));
    const rows = parseCsv(text, file);
    assert.deepEqual(rows.map((r) => r.model).sort(), [...expected].sort(), 'one row per network, none replaced');
    for (const r of rows) {
      const spec = ModelSpecSchema.parse(JSON.parse(r.arch!));
      assert.equal(canonicalName(spec), r.model, 'arch rebuilds the named network');
      assert.ok(Number(r.param_count) > 0 && Number(r.flops) > 0 && Number(r.acts) > 0, `${r.model}: complexity`);
      assert.ok(Number(r.top1) >= 0 && Number(r.top1) <= 100 && r.top1 !== '', `${r.model}: top1 ${r.top1}`);
      assert.ok(Number(r.infer_samples_per_sec) > 0 && Number(r.train_samples_per_sec) > 0, `${r.model}: throughputs`);
      assert.deepEqual(
        [r.img_size, r.stem, r.in_chans, r.seed, r.epochs, r.train_batch_size, r.engine, r.device, r.threads, r.recipe],
        ['28', 'small', '1', '0', '1', '16', ENGINE, 'cpu', '2', 'digits[steps=1,batch_size=16,limit_train=64]'],
      );
    }
    // the baseline's small stem at 28 px: far more flops than at the ImageNet stem
    const r18 = rows.find((r) => r.model === 'resnet18')!;
    assert.ok(Number(r18.flops) > 4e8, r18.flops);
    const runRows = readRows(join(d, 'run', 'sweep.csv'));
    assert.deepEqual(
      runRows.map((r) => [r.model, r.status]),
      expected.map((m) => [m, 'ok']),
    );
    assert.equal(runRows.find((r) => r.model === 'resnet18')!.kind, 'resnet');

    // the same command again: every model is done, nothing trains, the table stays as it is
    const again = runCli(args, { timeoutMs: 120_000 });
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stderr, /0 trained now, 5 already done/);
    assert.equal(readFileSync(file, 'utf8'), text);
  },
);

function fakeResult(req: TrainRequest, status: TrainResult['status']): TrainResult {
  return {
    status,
    model: req.model.name,
    dataset: req.dataset,
    engine: 'torch',
    top1: status === 'ok' ? 50 : NaN,
    top5: 90,
    epochs: 1,
    steps: 4,
    trainSeconds: 1,
    imagesPerSec: 100,
    finalLoss: 0.5,
    params: 1000,
    flops: 2000,
    acts: 300,
    imgSize: 28,
  };
}

/** A stand-in trainer: 4 steps with a checkpoint file; aborts when asked to at the given call. */
function fakeTrainer(abortAt?: { call: number; ac: AbortController }) {
  const calls: TrainRequest[] = [];
  const fn: TrainFn = async (req) => {
    calls.push(req);
    const state = join(req.checkpointDir!, 'state.json');
    let step = req.resume && existsSync(state) ? (JSON.parse(readFileSync(state, 'utf8')) as { step: number }).step : 0;
    for (; step < 4; step++) {
      if (abortAt && calls.length === abortAt.call && step === 2) abortAt.ac.abort();
      if (req.signal?.aborted) {
        mkdirSync(req.checkpointDir!, { recursive: true });
        writeFileSync(state, JSON.stringify({ step }));
        return fakeResult(req, 'interrupted');
      }
    }
    return fakeResult(req, 'ok');
  };
  return { fn, calls };
}

test('train with several models runs through the sweep runner: a rerun skips finished models and resumes the one in flight', async () => {
  const base: TrainRequest = {
    model: { name: '', spec: zooEntry('resnet18').spec },
    dataset: 'fashion-mnist',
    engine: 'auto',
    seed: 3,
    overrides: { steps: 4, res: 28, inChans: 1 },
    limitTrain: 64,
  };
  const names = ['resnet18', 'regnetx_002', 'resnet26'];
  const make = () => {
    const s = resolveSweep(trainSweepConfig(base));
    s.models = names.map((n, i) => fromSpec(i, zooEntry(n).spec, 'train', true, n));
    return s;
  };
  const d = tmp();
  const ac = new AbortController();
  const first = fakeTrainer({ call: 2, ac });
  const a = await runSweep({ sweep: make(), outDir: d, trainer: first.fn, signal: ac.signal });
  assert.equal(a.interrupted, true);
  assert.deepEqual(
    readRows(join(d, 'sweep.csv')).map((r) => r.model),
    ['resnet18'],
  );
  assert.ok(existsSync(join(d, 'checkpoints', 'regnetx_002', 'state.json')));
  const second = fakeTrainer();
  const b = await runSweep({ sweep: make(), outDir: d, trainer: second.fn });
  assert.deepEqual(
    second.calls.map((c) => [c.model.name, c.resume]),
    [
      ['regnetx_002', true],
      ['resnet26', false],
    ],
  );
  assert.equal(b.skipped, 1);
  // every model trains with the command's seed and shape
  assert.ok([...first.calls, ...second.calls].every((c) => c.seed === 3 && c.overrides?.res === 28 && c.overrides.inChans === 1));
  const rows = readRows(join(d, 'sweep.csv'));
  assert.deepEqual(
    rows.map((r) => [r.id, r.model, r.status, r.params, r.res]),
    names.map((n, i) => [i, n, 'ok', 1000, 28]),
  );
});

test('a sweep config may name a samples file instead of a space, and baselines trained with the same recipe', async () => {
  const d = tmp();
  const sample = runCli(['sample', '--space', 'regnetx_small', '--n', '3', '--seed', '5', '--out', join(d, 'samples.csv')]);
  assert.equal(sample.code, 0, sample.stderr);
  const cfg = {
    name: 'mix',
    samples: 'samples.csv',
    baselines: ['resnet18', 'resnet50'],
    seed: 7,
    dataset: 'fashion-mnist',
    recipe: 'quick',
    overrides: { steps: 4 },
  };
  writeFileSync(join(d, 'mix.json'), JSON.stringify(cfg));
  const s = loadSweepConfig(join(d, 'mix.json'));
  const models = sweepEntries(s);
  const samples = readConfigs(join(d, 'samples.csv'));
  assert.deepEqual(
    models.map((m) => [m.id, m.name, m.baseline]),
    [...samples.map((r, i) => [i, r.name, false]), [3, 'resnet18', true], [4, 'resnet50', true]],
  );
  const t = fakeTrainer();
  const sum = await runSweep({ sweep: s, outDir: join(d, 'out'), trainer: t.fn });
  assert.equal(sum.ok, 5);
  // one recipe for all
  assert.ok(t.calls.every((c) => c.recipe === 'quick' && c.overrides?.steps === 4 && c.dataset === 'fashion-mnist'));
  const rows = readRows(join(d, 'out', 'sweep.csv'));
  assert.deepEqual(
    rows.map((r) => [r.model, r.kind, r.space]),
    [...samples.map((r) => [r.name, 'regnet', 'samples']), ['resnet18', 'resnet', 'baselines'], ['resnet50', 'resnet', 'baselines']],
  );
  // n limits the samples; the baselines keep their rows although their ids move
  writeFileSync(join(d, 'mix.json'), JSON.stringify({ ...cfg, n: 2 }));
  const t2 = fakeTrainer();
  const again = await runSweep({ sweep: loadSweepConfig(join(d, 'mix.json')), outDir: join(d, 'out'), trainer: t2.fn });
  assert.deepEqual([t2.calls.length, again.skipped], [0, 4]);

  const bad = (extra: object) => () => parseSweepConfig({ ...cfg, ...extra });
  assert.throws(bad({ space: 'regnetx_small', n: 2 }), /either 'space' or 'samples'/);
  assert.throws(bad({ baselines: ['resnet19'] }), /baselines.*not a zoo model/);
  assert.throws(bad({ samples: undefined, space: 'regnetx_small' }), /'n'/);
  assert.throws(bad({ samples: undefined, baselines: undefined }), /needs 'space', 'samples' or 'baselines'/);
});
