/**
 * The acceptance run for sweeps beyond the architecture, as processes with the real trainer on the tiny
 * workload of the sweep tests: a sweep config with a log-uniform lr, `repeats: 2` and a baseline runs,
 * its rows carry the drawn lr and the repeats, and `regnet analyze` writes the error-vs-lr plot, the
 * per-model means and the baseline marks.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readRows } from '../src/sweep/rows.js';
import { parseCsvTable } from '../src/results/csv.js';
import { runCli } from './helpers/cli.js';
import { writeTinySweep } from './helpers/sweep-config.js';

const dir = mkdtempSync(join(tmpdir(), 'sweep-hyper-cli-'));

test('sweep with log-uniform lr, repeats 2 and a baseline; analyze plots error vs lr and marks the baseline', () => {
  const cfg = writeTinySweep(dir, 'lr.json', 'tiny-lr', {
    n: 3,
    repeats: 2,
    hyper: { lr: { dist: 'log_uniform', low: 0.01, high: 1 } },
    baselines: ['regnetx_002'],
  });
  const out = join(dir, 'run');
  const a = runCli(['sweep', cfg, '--out-dir', out], { timeoutMs: 0 });
  assert.equal(a.code, 0, a.stderr);
  assert.match(a.stderr, /\[repeat 1, lr=0\.\d+\]/);
  const rows = readRows(join(out, 'sweep.csv'));
  assert.equal(rows.length, 8);
  assert.ok(
    rows.every((r) => r.status === 'ok'),
    rows.map((r) => r.error).join('; '),
  );
  assert.deepEqual(
    rows.map((r) => r.repeat),
    [0, 1, 0, 1, 0, 1, 0, 1],
  );
  const sampled = rows.filter((r) => r.space !== 'baselines');
  assert.ok(sampled.every((r) => r.lr >= 0.01 && r.lr <= 1));
  assert.equal(new Set(sampled.map((r) => r.lr)).size, 3, 'one lr per model, shared by its repeats');
  assert.equal(new Set(rows.map((r) => `${r.model}/${r.train_seed}`)).size, 8, 'each repeat its own seed');
  // repeats of one model with different seeds train differently
  const byModel = new Map<string, typeof rows>();
  for (const r of sampled) byModel.set(r.model, [...(byModel.get(r.model) ?? []), r]);
  assert.ok([...byModel.values()].some((rs) => rs[0]!.final_loss !== rs[1]!.final_loss));

  const analysis = join(dir, 'analysis');
  const b = runCli(['analyze', join(out, 'sweep.csv'), '--out-dir', analysis, '--bootstrap', '200'], { timeoutMs: 0 });
  assert.equal(b.code, 0, b.stderr);
  assert.ok(existsSync(join(analysis, 'err_vs_lr.svg')));
  const svg = readFileSync(join(analysis, 'err_vs_lr.svg'), 'utf8');
  assert.match(svg, /<title>Error vs lr<\/title>/);
  assert.equal((svg.match(/<circle /g) ?? []).length, 3 + 1, 'three models (means of their repeats) and a legend swatch');
  const html = readFileSync(join(analysis, 'report.html'), 'utf8');
  assert.match(html, /<figure id="err_vs_lr.svg">/);
  assert.match(html, /Error vs sampled recipe fields/);
  assert.match(readFileSync(join(analysis, 'edf.svg'), 'utf8'), /<polygon class="baseline"[^>]*\/><text[^>]*>regnetx_002</);
  const { records } = parseCsvTable(readFileSync(join(analysis, 'models.csv'), 'utf8'), 'models.csv');
  assert.deepEqual(
    records.map((r) => [r.model, r.repeats, r.baseline]),
    [...byModel.keys()].map((m) => [m, '2', 'false']).concat([['regnetx_002', '2', 'true']]),
  );
  for (const r of records) {
    const errs = rows.filter((x) => x.model === r.model).map((x) => x.top1_err);
    const mean = (errs[0]! + errs[1]!) / 2;
    assert.ok(Math.abs(Number(r.err_mean) - mean) < 1e-6, `${r.model}: ${r.err_mean} vs ${mean}`);
    assert.ok(Math.abs(Number(r.err_std || 0) - Math.abs(errs[0]! - errs[1]!) / Math.SQRT2) < 1e-6);
  }
  assert.match(b.stdout, /error vs sampled recipe fields/);
});
