/**
 * Canonical names (src/arch/identity.ts): derived from the network alone, the same from every source
 * (zoo name, flags, samples files of any seed), never shared by two networks.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { architectureKey, architectureName, canonicalName } from '../src/arch/identity.js';
import type { ModelSpec } from '../src/arch/spec.js';
import { buildFromSpec, zooEntry, zooNames } from '../src/arch/zoo.js';
import { anynetStages } from '../src/arch/regnet.js';
import { resolveModel, resolveModelList } from '../src/cli/model-args.js';
import { formatSamples, readConfigs, sampleSpec } from '../src/results/samples.js';
import { sampleSpace } from '../src/space/sampler.js';
import { loadSpace } from '../src/space/space-config.js';
import { regnetStages } from '../src/space/regnet.js';
import { UsageError } from '../src/util/errors.js';

const spaceFile = (name: string) => new URL(`../configs/spaces/${name}.json`, import.meta.url).pathname;
const tmp = () => mkdtempSync(join(tmpdir(), 'regnet-ident-'));

/** What the builder makes of a spec, independent of any naming code: the graph's nodes. */
function fingerprint(spec: ModelSpec): string {
  return createHash('sha1')
    .update(JSON.stringify(buildFromSpec(spec, { res: 32, numClasses: 10 }).nodes))
    .digest('hex');
}

test('zoo models keep their zoo names, and no two zoo models build the same network', () => {
  const names = zooNames();
  for (const n of names) assert.equal(canonicalName(zooEntry(n).spec), n);
  assert.equal(new Set(names.map((n) => architectureKey(zooEntry(n).spec))).size, names.length);
  assert.equal(architectureName(zooEntry('regnetx_002').spec), 'regnetx_d1-1-4-7_w24-56-152-368_g8');
  assert.equal(architectureName(zooEntry('regnety_004').spec), 'regnety_d1-3-6-6_w48-104-208-440_g8');
  assert.equal(architectureName(zooEntry('regnetx_080').spec), 'regnetx_d2-5-15-1_w80-240-720-1920_g80-120-120-120');
  assert.equal(architectureName(zooEntry('regnety_040_sgn').spec), 'regnety_d2-6-12-2_w128-192-512-1088_g64_silu_gn');
  assert.equal(architectureName(zooEntry('resnet50').spec), 'resnet_bottleneck_3-4-6-3');
});

test('a zoo model described by flags, a configs row or an AnyNet with its stages gets the zoo name', () => {
  const flags = { depth: 13, w0: 24, wa: 36.44, wm: 2.49, groupSize: 8 };
  assert.equal(resolveModel(undefined, flags).name, 'regnetx_002');
  assert.equal(resolveModel(undefined, { ...flags, seRatio: 0.25 }).name, 'regnety_002');
  // other parameters that quantize to regnetx_002's stages: the same network, the same name
  assert.equal(resolveModel(undefined, { ...flags, wa: 36.5 }).name, 'regnetx_002');
  const st = regnetStages({ depth: 13, w0: 24, wa: 36.44, wm: 2.49, groupSize: 8 });
  const asAnyNet: ModelSpec = {
    kind: 'anynet',
    stages: st.widths.map((w, i) => ({ width: w, depth: st.depths[i]!, groupWidth: st.groupWidths[i]!, bottleRatio: 1 })),
    seRatio: 0,
    act: 'relu',
    norm: 'bn',
    stemWidth: 32,
  };
  assert.equal(canonicalName(asAnyNet), 'regnetx_002');
  const d = tmp();
  writeFileSync(join(d, 'c.csv'), 'id,depth,w0,wa,wm,group_size,se_ratio\nm7,13,24,36.44,2.49,8,0\nm8,13,24,36.44,2.49,8,0.25\n');
  assert.deepEqual(
    readConfigs(join(d, 'c.csv')).map((r) => r.name),
    ['regnetx_002', 'regnety_002'],
  );
  assert.deepEqual(
    resolveModelList(['regnetx_002'], { configs: [{ file: join(d, 'c.csv') }] }).map((m) => m.name),
    ['regnetx_002', 'regnety_002'],
    'the same network listed twice is kept once',
  );
});

test('names of many sampled configs (two seeds) are equal exactly when the networks are', () => {
  const space = loadSpace(spaceFile('regnetx_small'));
  const all = [1, 2].flatMap((seed) => sampleSpace(space, { n: 1000, seed }).samples);
  const nameByNet = new Map<string, string>();
  const netByName = new Map<string, string>();
  let sameNetOtherParams = 0;
  const paramsByNet = new Map<string, string>();
  for (const s of all) {
    const spec = sampleSpec(s);
    const net = fingerprint(spec);
    const name = canonicalName(spec);
    if (nameByNet.has(net)) assert.equal(name, nameByNet.get(net), 'one network, one name');
    if (netByName.has(name)) assert.equal(net, netByName.get(name), `${name} names two networks`);
    const params = `${s.depth},${s.w0},${s.wa},${s.wm},${s.group_size}`;
    if (paramsByNet.has(net) && paramsByNet.get(net) !== params) sameNetOtherParams++;
    nameByNet.set(net, name);
    netByName.set(name, net);
    paramsByNet.set(net, params);
  }
  assert.equal(nameByNet.size, netByName.size);
  // not vacuous: the two seeds drew the same network from different parameters several times
  assert.ok(sameNetOtherParams > 0, 'no network was drawn twice');
});

test('AnyNet samples: names from the resolved stages; different networks, different names', () => {
  const samples = sampleSpace(loadSpace(spaceFile('anynetx_small')), { n: 300, seed: 4 }).samples;
  const names = samples.map((s) => canonicalName(sampleSpec(s)));
  assert.equal(new Set(names).size, new Set(samples.map((s) => fingerprint(sampleSpec(s)))).size);
  const s0 = sampleSpec(samples[0]!);
  assert.ok(s0.kind === 'anynet');
  const st = anynetStages(s0);
  assert.ok(names[0]!.startsWith(`anynet_d${st.map((x) => x.depth).join('-')}_w${st.map((x) => x.width).join('-')}_g`), names[0]);
  // bottleneck, SE, activation, norm and stem width are part of the name where they are not the default
  const base: ModelSpec = { ...s0, stages: s0.stages.map((x) => ({ ...x, bottleRatio: 1 })) };
  const variants: ModelSpec[] = [
    base,
    { ...base, stages: base.stages.map((x, i) => ({ ...x, bottleRatio: i === 0 ? 0.5 : 1 })) },
    { ...base, seRatio: 0.25 },
    { ...base, act: 'silu' },
    { ...base, norm: 'gn' },
    { ...base, stemWidth: 24 },
  ];
  const vn = variants.map(canonicalName);
  assert.equal(new Set(vn).size, variants.length, vn.join(' '));
});

test('sample writes the canonical name in a model column; a configs row may name a zoo model or carry a spec', () => {
  const d = tmp();
  const rep = sampleSpace(loadSpace(spaceFile('regnetx_small')), { n: 5, seed: 9 });
  writeFileSync(join(d, 's.csv'), formatSamples(rep.samples));
  const rows = readConfigs(join(d, 's.csv'));
  assert.deepEqual(
    rows.map((r) => r.name),
    rep.samples.map((s) => canonicalName(sampleSpec(s))),
  );
  writeFileSync(
    join(d, 'r.csv'),
    `model,top1,arch\nresnet18,50,\nx,40,"${JSON.stringify(zooEntry('regnetx_004').spec).replace(/"/g, '""')}"\n`,
  );
  assert.deepEqual(
    readConfigs(join(d, 'r.csv')).map((r) => r.name),
    ['resnet18', 'regnetx_004'],
  );
  writeFileSync(join(d, 'bad.csv'), 'model\nnot_a_model\n');
  assert.throws(
    () => readConfigs(join(d, 'bad.csv')),
    (e: Error) => e instanceof UsageError && /bad\.csv row 1/.test(e.message),
  );
});

test('--rows: ids and ranges select rows of a configs file, in order; unknown ids are usage errors', () => {
  const d = tmp();
  writeFileSync(join(d, 's.csv'), formatSamples(sampleSpace(loadSpace(spaceFile('regnetx_small')), { n: 6, seed: 2 }).samples));
  const all = readConfigs(join(d, 's.csv')).map((r) => r.name);
  const pick = (rows?: string) => resolveModelList([], { configs: [{ file: join(d, 's.csv'), rows }] }).map((m) => m.name);
  assert.deepEqual(pick(), all);
  assert.deepEqual(pick('4,0-2'), [all[4], all[0], all[1], all[2]]);
  assert.throws(() => pick('9'), /--rows: no row with id '9'/);
  assert.throws(() => pick('3-1'), /runs backwards/);
  assert.throws(() => pick('1,,2'), /empty entry/);
  assert.throws(() => resolveModelList([], {}), UsageError);
});
