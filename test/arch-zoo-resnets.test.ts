/**
 * The ResNet family of the zoo (ResNeXt, Wide ResNet, ResNet-D, SE-ResNe(X)t) and the torchvision aliases,
 * against test/fixtures/zoo_extra_224.csv: counts from PyTorch itself (torchvision's models, and torch.nn
 * renderings of timm's ResNet-D and SE blocks; test/fixtures/count_torchvision.py), plus the parameter
 * names and shapes a timm checkpoint has, and timm's published parameter counts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { complexity } from '../src/arch/complexity.js';
import { poolDivisors, poolOut, type Network } from '../src/arch/ir.js';
import { numel, paramSpecs } from '../src/arch/params.js';
import { buildResNet } from '../src/arch/resnet.js';
import { buildModel, isZooName, matchZoo, resolveZooName, zooAliases, zooEntry, zooNames } from '../src/arch/zoo.js';
import { referenceTop1 } from '../src/results/reference-top1.js';
import { FIXTURES } from './helpers/fixtures.js';

interface ExtraRow {
  model: string;
  res: number;
  params: number;
  macs: number;
  flops: number;
  acts: number;
  namesSha: string;
  shapesSha: string;
}

function extraRows(): ExtraRow[] {
  const lines = readFileSync(`${FIXTURES}zoo_extra_224.csv`, 'utf8')
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

/** The same hashes count_torchvision.py takes of a state_dict (num_batches_tracked left out). */
function specSha(net: Network, names: boolean): string {
  const lines = paramSpecs(net)
    .map((p) => (names ? `${p.name}:` : '') + p.shape.join(','))
    .sort();
  return createHash('sha256').update(lines.join('\n')).digest('hex');
}

const NEW_MODELS = [
  'resnext50_32x4d',
  'resnext101_32x4d',
  'resnext101_32x8d',
  'wide_resnet50_2',
  'wide_resnet101_2',
  'resnet18d',
  'resnet26d',
  'resnet34d',
  'resnet50d',
  'resnet101d',
  'resnet152d',
  'seresnet50',
  'seresnext50_32x4d',
];

test('every row of zoo_extra_224.csv is reproduced exactly, with timm parameter names and shapes', () => {
  const rows = extraRows();
  assert.equal(rows.length, 33);
  for (const r of rows) {
    const net = buildModel(r.model, { res: r.res });
    const c = complexity(net);
    assert.deepEqual(
      { params: c.params, macs: c.macs, flops: c.flops, acts: c.acts },
      { params: r.params, macs: r.macs, flops: r.flops, acts: r.acts },
      r.model,
    );
    assert.equal(specSha(net, false), r.shapesSha, `${r.model}: parameter and buffer shapes`);
    if (r.namesSha) assert.equal(specSha(net, true), r.namesSha, `${r.model}: state_dict names and shapes`);
    else assert.ok(r.model.startsWith('regnet_'), r.model);
  }
  for (const m of NEW_MODELS)
    assert.ok(
      rows.some((r) => r.model === m),
      `${m} has a PyTorch reference row`,
    );
});

test("parameter counts equal timm's published ones (results-imagenet.csv param_count, millions)", () => {
  // huggingface/pytorch-image-models results/results-imagenet.csv @ 0173a139, column param_count
  const published: Record<string, string> = {
    resnext50_32x4d: '25.03',
    resnext101_32x4d: '44.18',
    resnext101_32x8d: '88.79',
    wide_resnet50_2: '68.88',
    wide_resnet101_2: '126.89',
    resnet18d: '11.71',
    resnet26d: '16.01',
    resnet34d: '21.82',
    resnet50d: '25.58',
    resnet101d: '44.57',
    resnet152d: '60.21',
    seresnet50: '28.09',
    seresnext50_32x4d: '27.56',
  };
  for (const [m, p] of Object.entries(published)) assert.equal((complexity(buildModel(m)).params / 1e6).toFixed(2), p, m);
});

test('the new models are registered, with families and reference top-1', () => {
  const names = new Set(zooNames());
  const family: Record<string, string> = {
    resnext50_32x4d: 'resnext',
    wide_resnet50_2: 'wide_resnet',
    resnet18d: 'resnet_d',
    resnet152d: 'resnet_d',
    seresnet50: 'seresnet',
    seresnext50_32x4d: 'seresnext',
    resnet50: 'resnet',
  };
  for (const m of NEW_MODELS) {
    assert.ok(names.has(m), m);
    const ref = referenceTop1(m);
    assert.ok(ref.original ?? ref.modern, `${m} has a reference top-1`);
  }
  for (const [m, f] of Object.entries(family)) {
    assert.equal(zooEntry(m).family, f, m);
    assert.equal(buildModel(m, { res: 32 }).family, f, m);
  }
  // a plain ResNet's spec is the JSON it always was (checkpoints and results rows keep matching)
  assert.deepEqual(zooEntry('resnet50').spec, { kind: 'resnet', block: 'bottleneck', layers: [3, 4, 6, 3] });
  assert.deepEqual(zooEntry('resnet50d').spec, {
    kind: 'resnet',
    block: 'bottleneck',
    layers: [3, 4, 6, 3],
    stemType: 'deep',
    stemWidth: 32,
    avgDown: true,
  });
});

test('torchvision names are aliases of the timm models and resolve to them', () => {
  const aliases = zooAliases();
  assert.equal(Object.keys(aliases).length, 15);
  assert.equal(resolveZooName('regnet_x_1_6gf'), 'regnetx_016');
  assert.equal(zooEntry('regnet_x_1_6gf').name, 'regnetx_016');
  assert.equal(buildModel('regnet_x_1_6gf').name, 'regnetx_016');
  assert.equal(buildModel('regnet_y_8gf').name, 'regnety_080_tv');
  assert.ok(isZooName('regnet_y_128gf'));
  assert.ok(!isZooName('regnet_y_2gf'));
  for (const [alias, name] of Object.entries(aliases)) {
    assert.ok(zooNames().includes(name), `${alias} -> ${name}`);
    assert.ok(!zooNames().includes(alias), `${alias} is not listed as a model of its own`);
  }
  // where torchvision's width rounding differs, the paper's timm model is not the alias (the _tv one is)
  const tv400 = complexity(buildModel('regnet_x_400mf'));
  assert.notEqual(complexity(buildModel('regnetx_004')).params, tv400.params);
  assert.throws(() => zooEntry('resnext50_32x4'), /unknown model 'resnext50_32x4'.*resnext50_32x4d/);
});

test('matchZoo takes several globs; an alias glob selects the canonical model', () => {
  const got = matchZoo('resnext*', 'seresnet*', 'wide_resnet*', 'resnet*d');
  assert.deepEqual(got.sort(), [
    'resnet101d',
    'resnet152d',
    'resnet18d',
    'resnet26d',
    'resnet34d',
    'resnet50d',
    'resnext101_32x4d',
    'resnext101_32x8d',
    'resnext50_32x4d',
    'seresnet50',
    'wide_resnet101_2',
    'wide_resnet50_2',
  ]);
  assert.deepEqual(matchZoo('regnet_x_1_6gf'), ['regnetx_016']);
  assert.deepEqual(matchZoo('regnetx_016', 'regnet_x_1_6gf'), ['regnetx_016']);
});

test('avgpool output sizes and divisors follow PyTorch (ceil mode, padding in or out of the count)', () => {
  // [size, k, stride, pad, ceil] -> PyTorch's output length and F.avg_pool2d of a ones row (cells in the input / divisor),
  // for count_include_pad true and false (torch 1.13)
  const cases: Array<[number, number, number, number, boolean, number[], number[]]> = [
    [7, 2, 2, 0, true, [1, 1, 1, 1], [1, 1, 1, 1]],
    [7, 2, 2, 0, false, [1, 1, 1], [1, 1, 1]],
    [6, 3, 2, 1, true, [2 / 3, 1, 1, 0.5], [1, 1, 1, 1]],
    [5, 3, 2, 1, true, [2 / 3, 1, 2 / 3], [1, 1, 1]],
    [8, 3, 3, 1, true, [2 / 3, 1, 1], [1, 1, 1]],
    [4, 3, 2, 1, true, [2 / 3, 1, 0.5], [1, 1, 1]],
  ];
  for (const [size, k, stride, pad, ceil, incl, excl] of cases) {
    assert.equal(poolOut(size, k, stride, pad, ceil), incl.length, `${size} k${k} s${stride} p${pad}`);
    for (const [countIncludePad, want] of [
      [true, incl],
      [false, excl],
    ] as const) {
      const div = poolDivisors(size, { k, stride, pad, ceil, countIncludePad });
      const onesAvg = div.map((d, o) => (Math.min(o * stride - pad + k, size) - Math.max(o * stride - pad, 0)) / d);
      onesAvg.forEach((v, i) =>
        assert.ok(Math.abs(v - want[i]!) < 1e-6, `${size} k${k} s${stride} p${pad} incl=${countIncludePad}: ${onesAvg} vs ${want}`),
      );
    }
  }
  // the ResNet-D shortcut: AvgPool2d(2, 2, ceil_mode=True, count_include_pad=False) on 7 -> 4, the last window one cell
  assert.deepEqual(poolDivisors(7, { k: 2, stride: 2, pad: 0, ceil: true, countIncludePad: false }), [2, 2, 2, 1]);
});

test('ResNet-D shortcuts: avgpool at stride 2 only, shapes consistent at odd sizes, no complexity of its own', () => {
  for (const res of [32, 40, 97, 224]) {
    const net = buildModel('resnet50d', { res, numClasses: 10 });
    const pools = net.nodes.filter((n) => n.op === 'avgpool');
    assert.equal(pools.length, 3, 'layer2..4 first blocks (layer1 keeps stride 1: no pool)');
    for (const p of pools) {
      if (p.op !== 'avgpool') continue;
      assert.deepEqual([p.k, p.stride, p.pad, p.ceil, p.countIncludePad], [2, 2, 0, true, false]);
      // the pooled shortcut lines up with the strided 3x3 of the residual branch
      assert.deepEqual(p.out.slice(1), [Math.floor((p.in[1] - 1) / 2) + 1, Math.floor((p.in[2] - 1) / 2) + 1]);
    }
    const trainable = paramSpecs(net)
      .filter((s) => s.trainable)
      .reduce((a, s) => a + numel(s.shape), 0);
    assert.equal(trainable, complexity(net).params, `resnet50d@${res}`);
  }
  const names = paramSpecs(buildModel('resnet50d')).map((p) => p.name);
  for (const n of [
    'conv1.0.weight',
    'conv1.1.running_var',
    'conv1.3.weight',
    'conv1.4.bias',
    'conv1.6.weight',
    'bn1.weight',
    'layer1.0.downsample.1.weight',
    'layer1.0.downsample.2.running_mean',
    'layer2.0.downsample.1.weight',
    'fc.bias',
  ]) {
    assert.ok(names.includes(n), n);
  }
  assert.ok(!names.some((n) => n.includes('downsample.0')), 'the pool holds no parameters');
  const se = paramSpecs(buildModel('seresnext50_32x4d'));
  assert.deepEqual(se.find((p) => p.name === 'layer1.0.se.fc1.weight')!.shape, [16, 256, 1, 1]);
  assert.deepEqual(se.find((p) => p.name === 'layer4.2.se.fc2.bias')!.shape, [2048]);
  assert.deepEqual(se.find((p) => p.name === 'layer1.0.conv2.weight')!.shape, [128, 4, 3, 3]);
});

test('basic-block ResNets refuse ResNeXt widths; unnamed specs get readable names', () => {
  assert.throws(() => buildResNet({ block: 'basic', layers: [1, 1], cardinality: 2 }), /cardinality 1/);
  const net = buildResNet(
    { block: 'bottleneck', layers: [1, 1, 1, 1], cardinality: 8, baseWidth: 4, stemType: 'deep', avgDown: true, seRatio: 1 / 16 },
    { res: 40 },
  );
  assert.equal(net.name, 'resnet_bottleneck_1-1-1-1_8x4d_deep32_avgdown_se0.0625');
  assert.equal(net.family, 'seresnext');
});
