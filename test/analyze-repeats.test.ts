/**
 * `analyze` on sweeps with repeats, sampled recipe fields and baselines: per-model mean and standard
 * deviation (checked against the repeats written), the quadratic trend of error against log10 lr (checked
 * against numpy.polyfit), the error-vs-lr plot and the baseline marks over the EDF and the trends.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { analyzeSweeps } from '../src/analyze/report.js';
import { quadraticFit } from '../src/analyze/stats.js';
import { readSweepCsv } from '../src/analyze/sweep-csv.js';
import { parseCsvTable } from '../src/results/csv.js';
import { UsageError } from '../src/util/errors.js';
import { Rng } from '../src/util/rng.js';
import { findPython } from './helpers/fixtures.js';
import { tempDirUntilExit } from './helpers/tmp.js';

const tmp = tempDirUntilExit('analyze-repeats-');

interface Model {
  id: number;
  model: string;
  lr: number;
  flops: number;
  /** error of each repeat; NaN = a failed repeat */
  errs: number[];
}

/** 24 models x 2 repeats: error a parabola in log10 lr (lowest at 0.1) plus seed noise; model 5's second repeat failed. */
function synthetic(): { models: Model[]; baseline: Model } {
  const rng = new Rng(4);
  const models: Model[] = [];
  for (let id = 0; id < 24; id++) {
    const lr = Number((10 ** rng.uniform(-2, 0)).toPrecision(6));
    const flops = Math.round(rng.uniform(1e6, 5e6));
    const base = 20 + 8 * (Math.log10(lr) + 1) ** 2 - flops / 1e6;
    const errs = [base + rng.normal() * 0.5, id === 5 ? NaN : base + rng.normal() * 0.5];
    models.push({ id, model: `regnetx_m${id}`, lr, flops, errs });
  }
  return { models, baseline: { id: 24, model: 'resnet18', lr: 0.1, flops: 3e6, errs: [17.5, 18.5] } };
}

function writeCsv(path: string, models: Model[], baseline: Model): void {
  const lines = ['id,model,status,space,repeat,lr,flops,top1_err'];
  const add = (m: Model, space: string) =>
    m.errs.forEach((e, repeat) =>
      lines.push([m.id, m.model, Number.isNaN(e) ? 'failed' : 'ok', space, repeat, m.lr, m.flops, Number.isNaN(e) ? '' : e].join(',')),
    );
  for (const m of models) add(m, 'regnetx_small');
  add(baseline, 'baselines');
  writeFileSync(path, lines.join('\n') + '\n');
}

test('repeats: one analysis row per model at its mean error; std over its ok repeats; baselines kept apart', () => {
  const { models, baseline } = synthetic();
  const file = join(tmp, 'rep.csv');
  writeCsv(file, models, baseline);
  const groups = readSweepCsv(file);
  assert.deepEqual(
    groups.map((g) => [g.name, g.baseline, g.rows.length, g.skipped]),
    [
      ['regnetx_small', false, 24, 1],
      ['baselines', true, 1, 0],
    ],
  );
  for (const m of models) {
    const row = groups[0]!.rows.find((r) => r.id === String(m.id))!;
    const ok = m.errs.filter((e) => !Number.isNaN(e));
    assert.equal(row.repeats, ok.length);
    assert.ok(Math.abs(row.err - (ok.length === 2 ? (ok[0]! + ok[1]!) / 2 : ok[0]!)) < 1e-12);
    // two values: sample std = |a - b| / sqrt(2)
    if (ok.length === 2) assert.ok(Math.abs(row.errStd - Math.abs(ok[0]! - ok[1]!) / Math.SQRT2) < 1e-12);
    else assert.ok(Number.isNaN(row.errStd));
    assert.equal(row.values.lr, m.lr);
    assert.equal(row.model, m.model);
  }
  // a repeat written twice is refused like a duplicate id
  writeFileSync(join(tmp, 'dup.csv'), 'id,status,repeat,top1_err\n0,ok,1,10\n0,ok,1,11\n');
  assert.throws(
    () => readSweepCsv(join(tmp, 'dup.csv')),
    (e: unknown) => e instanceof UsageError && /id '0' repeat 1 is on rows 1 and 2/.test(e.message),
  );
});

test('analyze: models.csv (mean, std), error vs lr with its trend, baselines marked over the EDF and the trends', () => {
  const { models, baseline } = synthetic();
  const file = join(tmp, 'sweep.csv');
  writeCsv(file, models, baseline);
  const out = join(tmp, 'analysis');
  const res = analyzeSweeps([file], out, { bootstrap: 300, seed: 1 });
  assert.deepEqual(
    res.sweeps.map((s) => s.name),
    ['regnetx_small'],
    'the baselines are not a design space',
  );
  const s = res.sweeps[0]!;
  assert.equal(s.summary.n, 24);
  assert.equal(s.maxRepeats, 2);
  const means = models.map((m) => {
    const ok = m.errs.filter((e) => !Number.isNaN(e));
    return ok.reduce((a, b) => a + b, 0) / ok.length;
  });
  assert.ok(Math.abs(s.summary.mean - means.reduce((a, b) => a + b, 0) / 24) < 1e-9, 'the summary is over per-model means');
  const stds = models.filter((m) => m.id !== 5).map((m) => Math.abs(m.errs[0]! - m.errs[1]!) / Math.SQRT2);
  assert.ok(Math.abs(s.seedStd - stds.reduce((a, b) => a + b, 0) / stds.length) < 1e-9);

  // models.csv: one line per model and baseline
  const { records } = parseCsvTable(readFileSync(join(out, 'models.csv'), 'utf8'), 'models.csv');
  assert.equal(records.length, 25);
  for (const [k, m] of models.entries()) {
    const r = records[k]!;
    assert.equal(r.model, m.model);
    assert.ok(Math.abs(Number(r.err_mean) - means[k]!) < 1e-8);
    assert.equal(Number(r.lr), m.lr);
    assert.equal(r.repeats, m.id === 5 ? '1' : '2');
  }
  assert.deepEqual(
    [records[24]!.model, records[24]!.baseline, records[24]!.err_mean, records[24]!.err_std],
    ['resnet18', 'true', '18', '0.7071067812'],
  );

  // the trend of error vs log10 lr: the synthetic optimum is lr 0.1 (flops add scatter)
  const trend = s.trends.lr!;
  assert.equal(trend.log, true);
  assert.equal(trend.interior, true);
  assert.ok(trend.best > 0.05 && trend.best < 0.2, `best lr ${trend.best}`);
  assert.ok(s.spearman.lr !== undefined);
  assert.ok(!('momentum' in s.spearman), 'fields not sampled are not analysed');

  // the plot: one dot per model, the fitted curve, the baseline's diamond; log axis
  const lrSvg = readFileSync(join(out, 'err_vs_lr.svg'), 'utf8');
  assert.match(lrSvg, /learning rate lr \(log\)/);
  assert.equal((lrSvg.match(/<circle /g) ?? []).length, 24 + 1, '24 dots and one legend swatch');
  assert.match(lrSvg, /regnetx_small trend: best 0\.\d+, R2=/);
  assert.equal((lrSvg.match(/<polygon class="baseline"/g) ?? []).length, 1);
  assert.match(lrSvg, />resnet18</);
  const flopsSvg = readFileSync(join(out, 'err_vs_flops.svg'), 'utf8');
  assert.equal((flopsSvg.match(/<polygon class="baseline"/g) ?? []).length, 1);
  assert.doesNotMatch(flopsSvg, /trend: best/, 'trend curves are for recipe fields');
  const edfSvg = readFileSync(join(out, 'edf.svg'), 'utf8');
  assert.equal((edfSvg.match(/<polygon class="baseline"/g) ?? []).length, 1);
  assert.match(edfSvg, /baselines \(zoo models\)/);

  // the EDF at the baseline: the share of models with a mean error below 18
  const json = JSON.parse(readFileSync(join(out, 'summary.json'), 'utf8')) as Array<{
    baselines: Array<{ model: string; err: number; edf: number }>;
    trends: Record<string, { best: number; axis: string }>;
    repeats: number;
  }>;
  assert.equal(json[0]!.baselines[0]!.edf, means.filter((e) => e < 18).length / 24);
  assert.equal(json[0]!.trends.lr!.axis, 'log10');
  assert.equal(json[0]!.repeats, 2);

  const html = readFileSync(join(out, 'report.html'), 'utf8');
  assert.match(html, /<figure id="err_vs_lr.svg">/);
  assert.match(html, /Error vs sampled recipe fields/);
  assert.match(html, /Baselines \(zoo models\)/);
  assert.match(html, /A model trained with several seeds counts once, at its mean error/);
  assert.match(res.text, /error vs sampled recipe fields \(quadratic trend\)/);
  assert.match(res.text, /baselines:/);
  assert.match(res.text, /models trained with up to 2 seeds/);
});

test('quadraticFit equals numpy.polyfit(x, y, 2)', (t) => {
  const python = findPython(['numpy']);
  if (!python) {
    t.skip('needs python3 with numpy (optional)');
    return;
  }
  const rng = new Rng(9);
  const cases = [
    Array.from({ length: 30 }, () => rng.uniform(-2, 0)),
    Array.from({ length: 12 }, () => rng.uniform(1000, 1001)),
    [0.1, 0.2, 0.3],
  ];
  for (const xs of cases) {
    const ys = xs.map((x) => 3 * x * x - x + 2 + rng.normal());
    const fit = quadraticFit(xs, ys)!;
    const r: SpawnSyncReturns<string> = spawnSync(
      python as string,
      ['-c', 'import json,sys,numpy as np; d=json.load(sys.stdin); print(json.dumps(list(np.polyfit(d[0], d[1], 2))))'],
      { input: JSON.stringify([xs, ys]), encoding: 'utf8' },
    );
    assert.equal(r.status, 0, r.stderr);
    const [a, b, c] = JSON.parse(r.stdout) as number[];
    const scale = Math.max(1, ...xs.map(Math.abs));
    assert.ok(Math.abs(fit.a - a!) <= 1e-6 * Math.abs(a!) + 1e-9, `a ${fit.a} vs ${a}`);
    assert.ok(Math.abs(fit.b - b!) <= 1e-6 * Math.abs(b!) + 1e-9 * scale, `b ${fit.b} vs ${b}`);
    assert.ok(Math.abs(fit.c - c!) <= 1e-6 * Math.abs(c!) + 1e-9 * scale * scale, `c ${fit.c} vs ${c}`);
  }
  assert.equal(quadraticFit([1, 1, 2, 2], [1, 2, 3, 4]), undefined, 'fewer than 3 distinct x');
});
