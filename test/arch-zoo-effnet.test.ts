/**
 * EfficientNet-B0..B7 and RegNetV in the zoo, against test/fixtures/zoo_effnet.csv: counts from PyTorch
 * itself (torchvision's efficientnet_b0..b7, and a torch.nn rendering of timm's documented RegNetV;
 * test/fixtures/effnet_reference.py) at 224 and at timm's default input size, with the state_dict names
 * (timm's) and shapes, plus timm's published parameter counts, default sizes and reference top-1.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { complexity } from '../src/arch/complexity.js';
import { buildEfficientNet, efficientnetStages, makeDivisible } from '../src/arch/efficientnet.js';
import { architectureName, canonicalName, sameArchitecture } from '../src/arch/identity.js';
import type { Network } from '../src/arch/ir.js';
import { paramSpecs } from '../src/arch/params.js';
import { buildRegNet } from '../src/arch/regnet.js';
import { ModelSpecSchema } from '../src/arch/spec.js';
import { buildModel, matchZoo, zooEntry, zooImgSize, zooNames } from '../src/arch/zoo.js';
import { referenceTop1 } from '../src/results/reference-top1.js';
import { ROOT } from './helpers/cli.js';
import { runInProcess } from './helpers/in-process.js';
import { FIXTURES } from './helpers/fixtures.js';

interface Row {
  model: string;
  res: number;
  params: number;
  macs: number;
  flops: number;
  acts: number;
  namesSha: string;
  shapesSha: string;
}

function rows(): Row[] {
  const lines = readFileSync(`${FIXTURES}zoo_effnet.csv`, 'utf8')
    .split('\n')
    .filter((l) => l && !l.startsWith('#'));
  assert.equal(lines[0], 'model,res,param_count,macs,flops,acts,state_dict_sha256,shapes_sha256');
  return lines.slice(1).map((l) => {
    const [model, res, params, macs, flops, acts, namesSha, shapesSha] = l.split(',');
    return {
      model: model!,
      res: Number(res),
      params: Number(params),
      macs: Number(macs),
      flops: Number(flops),
      acts: Number(acts),
      namesSha: namesSha!,
      shapesSha: shapesSha!,
    };
  });
}

/** The hashes effnet_reference.py takes of a state_dict (num_batches_tracked left out). */
function specSha(net: Network, names: boolean): string {
  const lines = paramSpecs(net)
    .map((p) => (names ? `${p.name}:` : '') + p.shape.join(','))
    .sort();
  return createHash('sha256').update(lines.join('\n')).digest('hex');
}

const EFFNETS = Array.from({ length: 8 }, (_, i) => `efficientnet_b${i}`);
const NEW = [...EFFNETS, 'regnetv_040', 'regnetv_064'];

test('every row of zoo_effnet.csv is reproduced exactly, with timm parameter names and shapes', () => {
  const rs = rows();
  assert.equal(rs.length, 16, '8 EfficientNets at 224 (and 6 at their default size), 2 RegNetVs');
  for (const r of rs) {
    const net = buildModel(r.model, { res: r.res });
    const c = complexity(net);
    assert.deepEqual(
      { params: c.params, macs: c.macs, flops: c.flops, acts: c.acts },
      { params: r.params, macs: r.macs, flops: r.flops, acts: r.acts },
      `${r.model} at ${r.res}`,
    );
    assert.equal(specSha(net, false), r.shapesSha, `${r.model}: parameter and buffer shapes`);
    assert.equal(specSha(net, true), r.namesSha, `${r.model}: timm state_dict names and shapes`);
  }
  for (const m of NEW)
    assert.ok(rs.some((r) => r.model === m && r.res === 224) && rs.some((r) => r.model === m && r.res === zooImgSize(m)), m);
});

test("parameter counts equal timm's published ones (results-imagenet.csv param_count, millions)", () => {
  // huggingface/pytorch-image-models results/results-imagenet.csv @ 0173a139, column param_count: the rows
  // efficientnet_b0.ra_in1k, b1.ft_in1k, b2.ra_in1k, b3.ra2_in1k, b4.ra2_in1k, regnetv_040/064.ra3_in1k; timm
  // lists no in1k row of efficientnet_b5..b7, so those are tf_efficientnet_b5..b7 (.in1k / .aa_in1k /
  // .ap_in1k), whose parameters are the same tensors (the tf_ ports differ in padding and BN eps only)
  const published: Record<string, string> = {
    efficientnet_b0: '5.29',
    efficientnet_b1: '7.79',
    efficientnet_b2: '9.11',
    efficientnet_b3: '12.23',
    efficientnet_b4: '19.34',
    efficientnet_b5: '30.39',
    efficientnet_b6: '43.04',
    efficientnet_b7: '66.35',
    regnetv_040: '20.64',
    regnetv_064: '30.58',
  };
  for (const [m, p] of Object.entries(published)) assert.equal((complexity(buildModel(m)).params / 1e6).toFixed(2), p, m);
});

test("timm's scaling rules: make_divisible with the 90% floor, ceil of scaled repeats", () => {
  // timm's make_divisible(v, 8, round_limit=0.9), values worked by hand
  assert.equal(makeDivisible(16 * 1.1), 16); // 17.6 -> 16 (16 >= 15.84)
  assert.equal(makeDivisible(40 * 1.1), 48); // 44 -> 48 (halves up)
  assert.equal(makeDivisible(80 * 1.1), 88);
  assert.equal(makeDivisible(24 * 1.4), 32); // 33.6 -> 32
  assert.equal(makeDivisible(9.5), 16); // 8 < 0.9 * 9.5 = 8.55 -> 8 + 8
  assert.equal(makeDivisible(3), 8); // at least the divisor
  const b7 = efficientnetStages({ widthMult: 2.0, depthMult: 3.1 });
  assert.deepEqual(
    b7.map((s) => s.repeats),
    [4, 7, 7, 10, 10, 13, 4],
  );
  assert.deepEqual(
    b7.map((s) => s.width),
    [32, 48, 80, 160, 224, 384, 640],
  );
});

test('the new models: families, default sizes, names, reference top-1', () => {
  const names = new Set(zooNames());
  for (const m of NEW) assert.ok(names.has(m), m);
  for (const m of EFFNETS) assert.equal(zooEntry(m).family, 'efficientnet', m);
  assert.equal(zooEntry('regnetv_040').family, 'regnetv');
  assert.equal(buildModel('regnetv_064', { res: 32 }).family, 'regnetv');
  // timm's default pretrained input sizes (efficientnet.py / regnet.py default_cfgs)
  assert.deepEqual(
    EFFNETS.map((m) => zooEntry(m).imgSize),
    [224, 224, 256, 288, 320, 448, 528, 600],
  );
  assert.equal(zooEntry('regnetv_040').imgSize, 224);
  assert.equal(zooEntry('resnet50').imgSize, 224);
  assert.deepEqual(matchZoo('efficientnet_b*', 'regnetv*').sort(), [...NEW].sort());
  // names: zoo architectures keep their zoo names; other multipliers and shortcut variants are spelled out
  assert.equal(canonicalName(zooEntry('efficientnet_b3').spec), 'efficientnet_b3');
  assert.equal(canonicalName(zooEntry('regnetv_064').spec), 'regnetv_064');
  assert.equal(architectureName(zooEntry('efficientnet_b3').spec), 'efficientnet_w1.2_d1.4');
  assert.equal(canonicalName({ kind: 'efficientnet', widthMult: 1.3, depthMult: 1.5 }), 'efficientnet_w1.3_d1.5');
  assert.equal(architectureName(zooEntry('regnetv_064').spec), 'regnetv_d2-7-14-2_w144-288-576-1296_g72_silu_avgdown');
  // RegNetV is not RegNetY: the same widths post-activation are a different network with a different name
  const y = { ...zooEntry('regnetv_040').spec, preact: false };
  assert.ok(!sameArchitecture(y, zooEntry('regnetv_040').spec));
  assert.equal(canonicalName(y), 'regnety_d2-6-12-2_w128-192-512-1088_g64_silu');
  // the spec JSON round-trips through the schema (results rows and checkpoints store it)
  for (const m of NEW) assert.deepEqual(ModelSpecSchema.parse(JSON.parse(JSON.stringify(zooEntry(m).spec))), zooEntry(m).spec, m);
  // a RegNetY's spec JSON is what it always was (no preact/downsample keys)
  assert.deepEqual(Object.keys(zooEntry('regnety_040').spec).sort(), [
    'act',
    'bottleRatio',
    'depth',
    'groupMinRatio',
    'groupSize',
    'kind',
    'norm',
    'seRatio',
    'stemWidth',
    'w0',
    'wa',
    'wm',
  ]);
  for (const m of [...EFFNETS.slice(0, 5), 'regnetv_040', 'regnetv_064']) {
    const ref = referenceTop1(m).original;
    assert.ok(ref && ref.source.includes('results-imagenet.csv'), `${m} has a sourced reference top-1`);
  }
});

test('block structure: residual adds only where shape is kept, no act after them; SE from the block input', () => {
  const net = buildEfficientNet({ widthMult: 1, depthMult: 1 }, { res: 64, numClasses: 10 });
  const adds = net.nodes.filter((n) => n.op === 'add');
  // B0: 16 blocks; the first of each stage changes width or stride (7), so 9 residual adds
  assert.equal(adds.length, 9);
  const consumers = (id: number, of: Network = net) =>
    of.nodes.filter((n) => ('input' in n && n.input === id) || ('inputs' in n && n.inputs.includes(id)));
  for (const a of adds)
    for (const c of consumers(a.id)) assert.ok(c.op === 'conv' || c.op === 'add', `add ${a.id} feeds a conv or the next add, not ${c.op}`);
  const reduce = net.nodes.filter((n) => n.op === 'conv' && n.name.endsWith('se.conv_reduce'));
  assert.equal(reduce.length, 16);
  // blocks.1.0: input 16 -> expanded 96, squeeze 4 (= 16 / 4); blocks.0.0: input 32 (DS), squeeze 8
  const byName = (s: string) => net.nodes.find((n) => n.op === 'conv' && n.name === s)!;
  assert.equal(byName('blocks.0.0.se.conv_reduce').out[0], 8);
  assert.equal(byName('blocks.1.0.se.conv_reduce').out[0], 4);
  const dw = byName('blocks.2.0.conv_dw');
  assert.ok(dw.op === 'conv' && dw.groups === 144 && dw.k === 5 && dw.stride === 2 && dw.pad === 2);
  // small stem below 64 px: stride-1 conv_stem
  const small = buildModel('efficientnet_b0', { res: 32, stem: 'small' });
  const stem = small.nodes.find((n) => n.op === 'conv' && n.name === 'conv_stem')!;
  assert.ok(stem.op === 'conv' && stem.stride === 1);

  // RegNetV: every add feeds the next block's norm1 (or the final act), never an act of its own block
  const v = buildRegNet(
    { depth: 5, w0: 32, wa: 16, wm: 2, groupSize: 8, seRatio: 0.25, act: 'silu', preact: true, downsample: 'avg' },
    { res: 32 },
  );
  for (const a of v.nodes.filter((n) => n.op === 'add')) {
    for (const c of consumers(a.id, v)) assert.ok(c.op === 'bn' || c.op === 'silu' || c.op === 'add', `${c.op}`);
  }
  assert.ok(v.nodes.some((n) => n.op === 'avgpool'));
  assert.ok(paramSpecs(v).some((p) => p.name === 's1.b1.downsample.1.weight'));
  assert.ok(paramSpecs(v).some((p) => p.name === 'stem.weight'));
});

test("regnet models 'efficientnet_b*' 'regnetv*' (and describe) use timm's default sizes, with timm's params and flops", async () => {
  const r = await runInProcess(['models', 'efficientnet_b*', 'regnetv*', '--format', 'csv'], ROOT);
  assert.equal(r.code, 0, r.stderr);
  const lines = r.stdout.trim().split('\n');
  assert.equal(lines[0], 'model,family,res,params,macs,flops,acts,stage_widths,stage_depths,stage_group_widths');
  const byModel = new Map(lines.slice(1).map((l) => [l.split(',')[0]!, l.split(',')]));
  const ref = rows();
  for (const m of NEW) {
    const want = ref.find((x) => x.model === m && x.res === zooImgSize(m))!;
    const got = byModel.get(m)!;
    assert.deepEqual(
      got.slice(1, 7),
      [
        m.startsWith('regnetv') ? 'regnetv' : 'efficientnet',
        String(want.res),
        String(want.params),
        String(want.macs),
        String(want.flops),
        String(want.acts),
      ],
      m,
    );
  }
  const described = await runInProcess(['describe', 'efficientnet_b3', '--json'], ROOT);
  assert.equal(described.code, 0, described.stderr);
  const d = JSON.parse(described.stdout) as { res: number; flops: number };
  assert.deepEqual([d.res, d.flops], [288, ref.find((x) => x.model === 'efficientnet_b3' && x.res === 288)!.flops]);
  const fixed = await runInProcess(['models', 'efficientnet_b3', '--img-size', '224', '--format', 'json'], ROOT);
  assert.equal(fixed.code, 0, fixed.stderr);
  const j = JSON.parse(fixed.stdout) as Array<{ res: number; flops: number }>;
  assert.deepEqual([j[0]!.res, j[0]!.flops], [224, ref.find((x) => x.model === 'efficientnet_b3' && x.res === 224)!.flops]);
});
