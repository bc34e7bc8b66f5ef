import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { roundHalfEven } from '../src/space/round.js';
import { blockWidths, regnetStages, adjustWidthGroup, validateRegNetParams } from '../src/space/regnet.js';
import { zooEntry } from '../src/arch/zoo.js';
import { FIXTURES, findPython } from './helpers/fixtures.js';

test('roundHalfEven matches Python round on ties and non-ties', () => {
  const cases: Array<[number, number]> = [
    [0.5, 0],
    [1.5, 2],
    [2.5, 2],
    [3.5, 4],
    [-1.5, -2],
    [-2.5, -2],
    [24.5, 24],
    [9.5, 10],
    [1.4999999999999998, 1],
    [2.5000000000000004, 3],
    [7, 7],
    [-7.2, -7],
    [1e15 + 0.5, 1e15],
  ];
  for (const [x, want] of cases) assert.equal(roundHalfEven(x), want, `round(${x})`);
  // 24/16 and 152/16 from the spec's examples of real ties
  assert.equal(roundHalfEven(24 / 16), 2);
  assert.equal(roundHalfEven(152 / 16), 10);
  assert.equal(roundHalfEven(392 / 16), 24);
});

function stagesOf(name: string) {
  const s = zooEntry(name).spec;
  if (s.kind !== 'regnet') throw new Error('not a regnet');
  return regnetStages(s);
}

test('published widths need round-half-even (regnetx_004, regnety_008)', () => {
  assert.deepEqual(stagesOf('regnetx_004').widths, [32, 64, 160, 384]);
  assert.deepEqual(stagesOf('regnety_008').widths, [64, 128, 320, 768]);
  // torchvision-style rounding of the _tv variant rounds the tie up instead
  assert.deepEqual(stagesOf('regnetx_004_tv').widths, [32, 64, 160, 400]);
});

test('group compatibility: regnetx_032 widths and regnetx_080 stage-1 groups', () => {
  const raw = blockWidths(88, 26.31, 2.25, 25);
  assert.deepEqual([...new Set(raw.widths)], [88, 200, 448, 1000]);
  const x032 = stagesOf('regnetx_032');
  assert.deepEqual(x032.widths, [96, 192, 432, 1008]);
  assert.deepEqual(x032.depths, [2, 6, 15, 2]);
  const x080 = stagesOf('regnetx_080');
  assert.equal(x080.groupWidths[0], 80);
  assert.equal(x080.groups[0], 1);
  assert.deepEqual(adjustWidthGroup(200, 1, 48), { width: 192, groupWidth: 48, bottleneckWidth: 192 });
});

test('num_stages and total_stages', () => {
  const s = regnetStages({ depth: 13, w0: 24, wa: 36.44, wm: 2.49, groupSize: 8 });
  assert.equal(s.numStages, 4);
  assert.equal(s.totalStages, 4);
  assert.deepEqual(s.depths, [1, 1, 4, 7]);
  // a config with a skipped stage index: widths 8, then straight to 8*wm^2
  const b = blockWidths(8, 100, 2, 3);
  assert.equal(b.totalStages, Math.max(...b.exps) + 1);
  assert.ok(b.numStages <= b.totalStages);
});

test('validation names the field', () => {
  const ok = { depth: 13, w0: 24, wa: 36.44, wm: 2.49, groupSize: 8 };
  assert.doesNotThrow(() => validateRegNetParams(ok));
  assert.throws(() => validateRegNetParams({ ...ok, w0: 20 }), /w0=20.*multiple of 8/);
  assert.throws(() => validateRegNetParams({ ...ok, wm: 1 }), /wm=1.*> 1/);
  assert.throws(() => validateRegNetParams({ ...ok, wa: -1 }), /wa=-1/);
  assert.throws(() => validateRegNetParams({ ...ok, depth: 0 }), /depth=0/);
  assert.throws(() => validateRegNetParams({ ...ok, groupSize: 0 }), /group_size=0/);
  assert.throws(() => validateRegNetParams({ ...ok, bottleRatio: 0 }), /bottle_ratio=0/);
});

test('generation agrees with an independent numpy computation when python3+numpy exist', async (t) => {
  const { spawnSync } = await import('node:child_process');
  // numpy is an optional independent reference (.ci/run installs Debian's python3-numpy)
  const py = findPython(['numpy']);
  if (!py) {
    t.skip('python3 with numpy not available (optional independent reference)');
    return;
  }
  // random configs, widths from numpy's round/log/power (the reference formulation)
  const cfgs: number[][] = [];
  let seed = 7;
  const rnd = () => (seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648;
  for (let i = 0; i < 300; i++) {
    cfgs.push([
      8 * (1 + Math.floor(rnd() * 32)),
      Math.round(rnd() * 2560) / 10,
      1.5 + Math.round(rnd() * 1500) / 1000,
      1 + Math.floor(rnd() * 40),
    ]);
  }
  const script = `
import json,sys,numpy as np
out=[]
for w0,wa,wm,d in json.load(sys.stdin):
    d=int(d)
    wc=np.arange(d)*wa+w0
    e=np.round(np.log(wc/w0)/np.log(wm))
    w=np.round(np.divide(w0*np.power(wm,e),8))*8
    out.append([int(x) for x in w])
print(json.dumps(out))`;
  const r = spawnSync(py, ['-c', script], { input: JSON.stringify(cfgs), encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  const want = JSON.parse(r.stdout) as number[][];
  cfgs.forEach(([w0, wa, wm, d], i) => {
    assert.deepEqual(blockWidths(w0!, wa!, wm!, d!).widths, want[i], `config ${cfgs[i]}`);
  });
});

test('spec file examples are what the zoo table says', () => {
  const text = readFileSync(`${FIXTURES}zoo_224.csv`, 'utf8');
  assert.match(text, /regnetx_002,224,2684792,/);
});
