/**
 * Sweeps beyond the architecture: the `hyper` schema (one-line errors), the per-model draws (bounds,
 * distribution, determinism, independence of shards and of other fields), `repeats` (rows, seeds, the
 * config hash, growing K), with an injected trainer that records what each training was asked for.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseSweepConfig, resolveSweep, type ResolvedSweep } from '../src/sweep/config.js';
import { drawField, drawHyper, hyperOverrides, type HyperDist } from '../src/sweep/hyper.js';
import { mergeSweeps } from '../src/sweep/merge.js';
import { sweepEntries } from '../src/sweep/models.js';
import { readRows, type SweepRow } from '../src/sweep/rows.js';
import { parseCsvTable } from '../src/results/csv.js';
import { formatSweepRows, HYPER_COLUMNS } from '../src/results/sweep-rows.js';
import { modelSeed, runSweep, type TrainFn } from '../src/sweep/run.js';
import { loadSpace } from '../src/space/space-config.js';
import type { TrainRequest, TrainResult } from '../src/train/types.js';
import { UsageError } from '../src/util/errors.js';

const space = loadSpace(new URL('../configs/spaces/regnetx_small.json', import.meta.url).pathname);
const tmp = () => mkdtempSync(join(tmpdir(), 'sweep-hyper-'));

const LR: HyperDist = { dist: 'log_uniform', low: 0.01, high: 1 };

function config(extra: object = {}) {
  return {
    name: 'hyper',
    space: 'regnetx_small',
    n: 6,
    seed: 5,
    dataset: 'mnist',
    overrides: { steps: 2 },
    hyper: { lr: LR, weight_decay: { dist: 'log_uniform', low: 1e-5, high: 1e-3 } },
    repeats: 2,
    ...extra,
  };
}

const resolved = (extra: object = {}): ResolvedSweep => resolveSweep(parseSweepConfig(config(extra)), space);

/** The message of the UsageError a config gives (fails the test when it parses). */
function errorOf(json: object): string {
  try {
    parseSweepConfig(json, 'cfg.json');
  } catch (e) {
    assert.ok(e instanceof UsageError, String(e));
    assert.ok(!e.message.includes('\n'), e.message);
    return e.message;
  }
  assert.fail('config parsed');
}

test('hyper schema: bad fields, ranges, distributions and conflicts are one-line errors naming the field', () => {
  assert.match(errorOf(config({ hyper: { lrr: LR } })), /'hyper\.lrr'.*allowed lr, weight_decay, momentum/);
  assert.match(
    errorOf(config({ hyper: { lr: { dist: 'normal', low: 1, high: 2 } } })),
    /'hyper\.lr\.dist'.*uniform, log_uniform or choice/,
  );
  assert.match(errorOf(config({ hyper: { lr: { dist: 'log_uniform', low: 0, high: 1 } } })), /'hyper\.lr\.low'.*> 0/);
  assert.match(errorOf(config({ hyper: { lr: { dist: 'uniform', low: 0.5, high: 0.1 } } })), /'hyper\.lr\.high'.*larger than low/);
  assert.match(errorOf(config({ hyper: { momentum: { dist: 'uniform', low: 0.5, high: 1 } } })), /'hyper\.momentum\.high'.*\[0, 1\)/);
  assert.match(errorOf(config({ hyper: { weight_decay: { dist: 'uniform', low: -1, high: 1 } } })), /'hyper\.weight_decay\.low'.*>= 0/);
  assert.match(errorOf(config({ hyper: { batch_size: { dist: 'uniform', low: 8, high: 64 } } })), /'hyper\.batch_size\.dist'.*choice/);
  assert.match(
    errorOf(config({ hyper: { batch_size: { dist: 'choice', values: [8, 12.5] } } })),
    /'hyper\.batch_size\.values\.1'.*integer/,
  );
  assert.match(errorOf(config({ hyper: { lr: { dist: 'uniform', low: 0.1, high: 1, quantize: 2 } } })), /'hyper\.lr'/);
  assert.match(errorOf(config({ overrides: { lr: 0.1 } })), /'hyper'.*lr is sampled here and fixed in overrides\.lr/);
  // the regularisation recipe fields keep the trainer's bounds: drop-path below 1, mixup/cutmix alphas >= 0
  assert.match(errorOf(config({ hyper: { drop_path: { dist: 'uniform', low: 0, high: 1 } } })), /'hyper\.drop_path\.high'.*\[0, 1\)/);
  assert.match(errorOf(config({ hyper: { mixup: { dist: 'uniform', low: -0.2, high: 0.4 } } })), /'hyper\.mixup\.low'.*>= 0/);
  assert.match(errorOf(config({ repeats: 0 })), /'repeats'/);
  assert.match(errorOf(config({ repeats: 1.5 })), /'repeats'/);
  // good ones parse; a drawn drop_path/mixup/cutmix reaches the trainer as its override
  parseSweepConfig(config({ hyper: { drop_path: { dist: 'uniform', low: 0, high: 0.2 }, cutmix: { dist: 'choice', values: [0, 1] } } }));
  assert.deepEqual(hyperOverrides({ drop_path: 0.1, mixup: 0.2, cutmix: 1 }), { dropPath: 0.1, mixup: 0.2, cutmix: 1 });
  parseSweepConfig(
    config({ hyper: { batch_size: { dist: 'choice', values: [16, 32] }, momentum: { dist: 'uniform', low: 0.8, high: 0.95 } } }),
  );
});

test('draws: inside the range, log-uniform over the decades, uniform, choice; 6 significant digits', () => {
  const n = 4000;
  const names = Array.from({ length: n }, (_, i) => `m${i}`);
  const lr = names.map((m) => drawField('lr', LR, 1, m));
  assert.ok(lr.every((v) => v >= 0.01 && v <= 1));
  assert.ok(lr.every((v) => Number(v.toPrecision(6)) === v));
  // log10(lr) is uniform on [-2, 0]: mean -1 (sd of the mean 0.577/sqrt(n) = 0.009), half below 0.1
  const logs = lr.map(Math.log10);
  const mean = logs.reduce((a, b) => a + b, 0) / n;
  assert.ok(Math.abs(mean + 1) < 0.04, `mean log10 lr ${mean}`);
  const below = lr.filter((v) => v < 0.1).length / n;
  assert.ok(Math.abs(below - 0.5) < 0.04, `share below 0.1: ${below}`);
  // each quarter-decade holds about a quarter of the draws (a uniform lr would put 90% above 0.1)
  for (let k = 0; k < 8; k++) {
    const share = logs.filter((v) => v >= -2 + k / 4 && v < -2 + (k + 1) / 4).length / n;
    assert.ok(Math.abs(share - 1 / 8) < 0.03, `bin ${k}: ${share}`);
  }
  const mom = names.map((m) => drawField('momentum', { dist: 'uniform', low: 0.8, high: 0.95 }, 1, m));
  assert.ok(mom.every((v) => v >= 0.8 && v <= 0.95));
  const mm = mom.reduce((a, b) => a + b, 0) / n;
  assert.ok(Math.abs(mm - 0.875) < 0.005, `uniform mean ${mm}`);
  const bs = names.map((m) => drawField('batch_size', { dist: 'choice', values: [16, 32, 64] }, 1, m));
  for (const v of [16, 32, 64]) assert.ok(Math.abs(bs.filter((x) => x === v).length / n - 1 / 3) < 0.04);
  assert.ok(bs.every((v) => [16, 32, 64].includes(v)));
});

test('draws: deterministic per (seed, field, model); another field or a larger n leaves them unchanged', () => {
  const a = drawHyper({ lr: LR }, 5, 'regnetx_d1-1-4-7_w24-56-152-368_g8');
  const b = drawHyper({ lr: LR, weight_decay: { dist: 'log_uniform', low: 1e-5, high: 1e-3 } }, 5, 'regnetx_d1-1-4-7_w24-56-152-368_g8');
  assert.equal(a.lr, b.lr);
  assert.ok(b.weight_decay! >= 1e-5 && b.weight_decay! <= 1e-3);
  assert.notEqual(drawHyper({ lr: LR }, 6, 'regnetx_d1-1-4-7_w24-56-152-368_g8').lr, a.lr);
  assert.notEqual(drawHyper({ lr: LR }, 5, 'other').lr, a.lr);
  assert.deepEqual(drawHyper(undefined, 5, 'x'), {});
});

test('hash: hyper changes it; repeats, like n, does not; a config without either keeps its old hash', () => {
  const base = { name: 'h', space: 'regnetx_small', n: 4, seed: 1, dataset: 'mnist' };
  const plain = resolveSweep(parseSweepConfig(base), space).hash;
  assert.equal(resolveSweep(parseSweepConfig({ ...base, repeats: 3 }), space).hash, plain);
  const withLr = resolveSweep(parseSweepConfig({ ...base, hyper: { lr: LR } }), space).hash;
  assert.notEqual(withLr, plain);
  assert.notEqual(resolveSweep(parseSweepConfig({ ...base, hyper: { lr: { ...LR, high: 2 } } }), space).hash, withLr);
  // the hash of this config before hyper/repeats existed (same canonical JSON)
  assert.equal(plain, resolveSweep(parseSweepConfig({ ...base, n: 9 }), space).hash);
});

/** A stand-in trainer: top-1 peaks at lr 0.1 and moves a little with the seed; records every request. */
function fakeTrainer() {
  const calls: TrainRequest[] = [];
  const fn: TrainFn = async (req) => {
    calls.push(req);
    const lr = req.overrides?.lr ?? 0.1;
    const top1 = 90 - 10 * (Math.log10(lr) + 1) ** 2 + (req.seed % 100) / 100;
    const r: TrainResult = {
      status: 'ok',
      model: req.model.name,
      dataset: req.dataset,
      engine: 'torch',
      top1,
      top5: 99,
      epochs: 1,
      steps: 2,
      trainSeconds: 1,
      imagesPerSec: 10,
      finalLoss: 0.5,
      params: 0,
      flops: 0,
      acts: 0,
      imgSize: 28,
    };
    return r;
  };
  return { fn, calls };
}

const identity = (rows: SweepRow[]) => rows.map((r) => [r.id, r.model, r.repeat, r.train_seed, r.lr, r.weight_decay, r.top1]);

test('repeats: K rows per model with their own seeds; the trainer gets the drawn values; shards give the same rows', async () => {
  const s = resolved();
  const d = tmp();
  const t = fakeTrainer();
  const summary = await runSweep({ sweep: s, outDir: d, trainer: t.fn });
  assert.equal(summary.total, 12);
  assert.equal(summary.ok, 12);
  const rows = readRows(join(d, 'sweep.csv'));
  const models = sweepEntries(s);
  assert.equal(rows.length, 12);
  for (const [k, m] of models.entries()) {
    const mine = rows.filter((r) => r.model === m.name);
    assert.deepEqual(
      mine.map((r) => r.repeat),
      [0, 1],
    );
    assert.equal(mine[0]!.train_seed, modelSeed(s, m), 'repeat 0 keeps the seed a sweep without repeats gives');
    assert.notEqual(mine[1]!.train_seed, mine[0]!.train_seed);
    // the sampled values: recorded, equal for both repeats, as drawHyper gives them
    const drawn = drawHyper(s.config.hyper, s.config.seed, m.name);
    for (const r of mine) {
      assert.equal(r.lr, drawn.lr);
      assert.equal(r.weight_decay, drawn.weight_decay);
      assert.ok(Number.isNaN(r.momentum), 'fields not sampled stay blank');
    }
    assert.equal(rows[2 * k]!.model, m.name, 'sorted by id, then repeat');
  }
  // each request carried its row's values
  for (const c of t.calls) {
    const row = rows.find((r) => r.model === c.model.name && r.train_seed === c.seed)!;
    assert.equal(c.overrides!.lr, row.lr);
    assert.equal(c.overrides!.weightDecay, row.weight_decay);
    assert.equal(c.overrides!.steps, 2, 'the config overrides stay');
    assert.ok(c.checkpointDir!.endsWith(row.repeat ? `${row.model}.r1` : row.model));
  }
  assert.equal(JSON.parse(readFileSync(join(d, 'sweep.json'), 'utf8')).repeats, 2);

  // rerun: nothing to train
  const again = fakeTrainer();
  assert.equal((await runSweep({ sweep: s, outDir: d, trainer: again.fn })).skipped, 12);
  assert.equal(again.calls.length, 0);

  // shards 0/2, 1/2 (and 3 shards) merge to the same rows
  for (const count of [2, 3]) {
    const sd = tmp();
    for (let index = 0; index < count; index++)
      await runSweep({ sweep: s, outDir: sd, shard: { index, count, source: 'test' }, trainer: fakeTrainer().fn });
    const merged = mergeSweeps([sd], join(sd, 'merged.csv'));
    assert.deepEqual(identity(merged.rows), identity(rows), `${count} shards`);
  }
});

test('repeats grows from 2 to 3: same hash, only the third repeats train; a new hyper range retrains into a new folder', async () => {
  const d = tmp();
  await runSweep({ sweep: resolved(), outDir: d, trainer: fakeTrainer().fn });
  const before = readRows(join(d, 'sweep.csv'));
  const t = fakeTrainer();
  const s3 = resolved({ repeats: 3 });
  assert.equal(s3.hash, resolved().hash);
  const summary = await runSweep({ sweep: s3, outDir: d, trainer: t.fn });
  assert.equal(t.calls.length, 6);
  assert.equal(summary.skipped, 12);
  const after = readRows(join(d, 'sweep.csv'));
  assert.equal(after.length, 18);
  assert.deepEqual(identity(after.filter((r) => r.repeat < 2)), identity(before));
  assert.ok(after.filter((r) => r.repeat === 2).every((r) => !before.some((b) => b.train_seed === r.train_seed && b.model === r.model)));
  // finished trainings leave no checkpoint folders (repeat folders included)
  assert.deepEqual(existsSync(join(d, 'checkpoints')) ? readdirSync(join(d, 'checkpoints')) : [], []);
  // another lr range is another sweep: refused in this folder
  await assert.rejects(
    runSweep({ sweep: resolved({ hyper: { lr: { dist: 'log_uniform', low: 0.001, high: 1 } } }), outDir: d, trainer: fakeTrainer().fn }),
    /rows of another sweep config/,
  );
});

test('train_seed with repeats: repeat r trains with train_seed + r', async () => {
  const d = tmp();
  const t = fakeTrainer();
  await runSweep({ sweep: resolved({ train_seed: 7, n: 2, repeats: 3 }), outDir: d, trainer: t.fn });
  assert.deepEqual(
    readRows(join(d, 'sweep.csv')).map((r) => [r.repeat, r.train_seed]),
    [
      [0, 7],
      [1, 8],
      [2, 9],
      [0, 7],
      [1, 8],
      [2, 9],
    ],
  );
});

test('sweep files written before repeat and the recipe columns existed read back (repeat 0, nothing sampled) and resume', async () => {
  const d = tmp();
  const s = resolveSweep(parseSweepConfig(config({ hyper: undefined, repeats: undefined, n: 3 })), space);
  await runSweep({ sweep: s, outDir: d, trainer: fakeTrainer().fn });
  const file = join(d, 'sweep.csv');
  const { columns, records } = parseCsvTable(readFileSync(file, 'utf8'), file);
  const added: string[] = ['repeat', ...HYPER_COLUMNS];
  const old = columns.filter((c) => !added.includes(c));
  assert.equal(old.length, columns.length - 1 - HYPER_COLUMNS.length);
  assert.equal(columns.at(-1), 'config_hash');
  writeFileSync(file, [old.join(','), ...records.map((r) => old.map((c) => r[c]).join(','))].join('\n') + '\n');
  const rows = readRows(file);
  assert.ok(rows.every((r) => r.repeat === 0 && HYPER_COLUMNS.every((c) => Number.isNaN(r[c]))));
  const t = fakeTrainer();
  assert.equal((await runSweep({ sweep: s, outDir: d, trainer: t.fn })).skipped, 3);
  assert.equal(t.calls.length, 0);
  // a blank repeat cell reads as 0 too
  // train_seed, repeat, attempts: blank the repeat
  const blank = formatSweepRows(rows).replace(/,(\d+),0,1,,/g, ',$1,,1,,');
  assert.equal((blank.match(/,\d+,,1,,/g) ?? []).length, 3);
  writeFileSync(file, blank);
  assert.deepEqual(
    readRows(file).map((r) => r.repeat),
    [0, 0, 0],
  );
});
