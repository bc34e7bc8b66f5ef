import { test } from 'node:test';
import assert from 'node:assert/strict';
import { sampleSpace } from '../src/space/sampler.js';
import { loadSpace, parseSpace } from '../src/space/space-config.js';
import { formatSamples, readConfigs } from '../src/results/samples.js';
import { blockWidths } from '../src/space/regnet.js';
import { writeFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const space = loadSpace(new URL('../configs/spaces/regnetx.json', import.meta.url).pathname);

test('same seed, same samples, byte for byte; other seed differs', () => {
  const a = formatSamples(sampleSpace(space, { n: 50, seed: 42, flops: [400e6, 600e6] }).samples);
  const b = formatSamples(sampleSpace(space, { n: 50, seed: 42, flops: [400e6, 600e6] }).samples);
  const c = formatSamples(sampleSpace(space, { n: 50, seed: 43, flops: [400e6, 600e6] }).samples);
  assert.equal(a, b);
  assert.notEqual(a, c);
});

test('samples obey the space: 4 stages, ranges, quantization, no duplicates', () => {
  const rep = sampleSpace(space, { n: 200, seed: 1, flops: [200e6, 800e6], params: [0, 8e6] });
  const keys = new Set<string>();
  for (const s of rep.samples) {
    assert.equal(s.num_stages, 4);
    const bw = blockWidths(s.w0, s.wa, s.wm, s.depth);
    assert.equal(bw.totalStages, 4);
    assert.ok(s.flops >= 200e6 && s.flops <= 800e6);
    assert.ok(s.params <= 8e6);
    assert.ok(s.depth >= 12 && s.depth <= 28);
    assert.equal(s.w0 % 8, 0);
    assert.ok(Math.abs(s.wa * 10 - Math.round(s.wa * 10)) < 1e-9, `wa ${s.wa} quantized to 0.1`);
    assert.ok(Math.abs(s.wm * 1000 - Math.round(s.wm * 1000)) < 1e-6, `wm ${s.wm}`);
    assert.ok(s.wm >= 2 && s.wm <= 3);
    assert.equal(s.group_size % 8, 0);
    const key = s.stage_widths.join() + '|' + s.stage_depths.join() + '|' + s.stage_group_widths.join();
    assert.ok(!keys.has(key), 'duplicate');
    keys.add(key);
  }
  assert.ok(rep.rejectedStages > 0, 'some raw draws break the stage rule');
});

test('unreachable --n stops with a clear message', () => {
  assert.throws(() => sampleSpace(space, { n: 5, seed: 1, flops: [1, 2], maxDraws: 2000 }), /only 0 of --n 5 samples found in 2000 draws/);
  // allowFewer: what was found when the draws run out (the same first samples as an unbounded run); none is still an error
  const few = sampleSpace(space, { n: 50, seed: 1, flops: [4e8, 6e8], maxDraws: 300, allowFewer: true });
  assert.ok(few.samples.length > 0 && few.samples.length < 50, String(few.samples.length));
  assert.equal(few.draws, 300);
  assert.deepEqual(sampleSpace(space, { n: few.samples.length, seed: 1, flops: [4e8, 6e8] }).samples, few.samples);
  assert.throws(() => sampleSpace(space, { n: 5, seed: 1, flops: [1, 2], maxDraws: 2000, allowFewer: true }), /only 0 of --n 5/);
});

test('the CSV reads back with describe --configs semantics', () => {
  const rep = sampleSpace(space, { n: 5, seed: 9 });
  const dir = mkdtempSync(join(tmpdir(), 'regnet-'));
  const f = join(dir, 's.csv');
  writeFileSync(f, formatSamples(rep.samples));
  const rows = readConfigs(f);
  assert.equal(rows.length, 5);
  const s0 = rep.samples[0]!;
  assert.deepEqual(rows[0]!.spec, {
    kind: 'regnet',
    depth: s0.depth,
    w0: s0.w0,
    wa: s0.wa,
    wm: s0.wm,
    groupSize: s0.group_size,
    bottleRatio: 1,
    seRatio: 0,
    groupMinRatio: 0,
    act: 'relu',
    norm: 'bn',
    stemWidth: 32,
  });
});

test('space files are validated with field names', () => {
  assert.throws(() => parseSpace({ kind: 'regnet', name: 'x', params: { depth: { dist: 'nope' } } }), /invalid field 'params.depth/);
  assert.throws(() => parseSpace({ kind: 'regnet', name: 'x', params: {}, extra: 1 }), /invalid field/);
});
