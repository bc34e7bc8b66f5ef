import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { buildModel, buildFromSpec, zooNames } from '../src/arch/zoo.js';
import { complexity } from '../src/arch/complexity.js';
import { paramSpecs, numel } from '../src/arch/params.js';
import { initWeights } from '../src/arch/init.js';
import { bodyComplexity } from '../src/space/complexity-fast.js';
import { sampleSpace } from '../src/space/sampler.js';
import { loadSpace } from '../src/space/space-config.js';
import { buildRegNet, anynetStages } from '../src/arch/regnet.js';
import type { Network } from '../src/arch/ir.js';
import { FIXTURES } from './helpers/fixtures.js';

const REF = `${FIXTURES}zoo_224.csv`;

test('every row of the reference zoo table is reproduced exactly', () => {
  const lines = readFileSync(REF, 'utf8').trim().split('\n');
  assert.equal(lines[0], 'model,res,param_count,macs,flops,acts');
  assert.ok(lines.length > 30);
  for (const line of lines.slice(1)) {
    const [model, res, params, macs, flops, acts] = line.split(',');
    const c = complexity(buildModel(model!, { res: Number(res) }));
    assert.deepEqual(
      { params: c.params, macs: c.macs, flops: c.flops, acts: c.acts },
      { params: Number(params), macs: Number(macs), flops: Number(flops), acts: Number(acts) },
      model,
    );
  }
});

test('spec headline numbers', () => {
  const r50 = complexity(buildModel('resnet50'));
  assert.equal(r50.params, 25_557_032);
  assert.equal(r50.flops, 4_089_185_256);
  const x032 = complexity(buildModel('regnetx_032'));
  assert.equal(x032.params, 15_296_552);
  assert.equal(x032.flops, 3_176_622_952);
});

test('zoo registers every named model and the resnets', () => {
  const names = new Set(zooNames());
  for (const n of [
    'regnetx_002',
    'regnetx_320',
    'regnety_002',
    'regnety_320',
    'regnety_640',
    'regnety_1280',
    'regnety_2560',
    'resnet18',
    'resnet26',
    'resnet34',
    'resnet50',
    'resnet101',
    'resnet152',
    'resnet200',
  ])
    assert.ok(names.has(n), n);
});

/** Independent recount: walk the param list (not the layer formulas) and count elements. */
function paramCountFromSpecs(net: Network): number {
  return paramSpecs(net)
    .filter((p) => p.trainable)
    .reduce((a, p) => a + numel(p.shape), 0);
}

test('param list, init and complexity agree; shapes consistent at other resolutions', () => {
  for (const name of ['regnetx_002', 'regnety_016', 'resnet18', 'resnet50', 'regnety_040_sgn']) {
    for (const res of [32, 64, 97, 224, 288]) {
      const net = buildModel(name, { res, numClasses: 10 });
      assert.equal(paramCountFromSpecs(net), complexity(net).params, `${name}@${res}`);
      const last = net.nodes[net.output]!;
      assert.deepEqual(last.out, [10, 1, 1]);
    }
  }
  const net = buildModel('regnetx_002', { res: 32, numClasses: 10 });
  const w = initWeights(net, 1);
  const w2 = initWeights(net, 1);
  assert.deepEqual([...w.get('stem.conv.weight')!.data.slice(0, 5)], [...w2.get('stem.conv.weight')!.data.slice(0, 5)]);
  assert.equal(w.get('s1.b1.conv3.bn.weight')!.data[0], 0, 'zero-init last BN of the residual branch');
  assert.equal(w.get('s1.b1.conv1.bn.weight')!.data[0], 1);
  assert.equal(w.get('s1.b1.conv1.bn.running_var')!.data[0], 1);
});

test('conv output sizes follow (h - 1) // s + 1 and flops scale with resolution', () => {
  // an independent hand count for a tiny RegNetX at 17x13 (odd, non-square)
  const net = buildRegNet({ depth: 1, w0: 8, wa: 0, wm: 2, groupSize: 8 }, { res: 13, resH: 17, numClasses: 3 });
  // stem 3->32 at 9x7; block 32->8 (b=8,g=1 group of 8): conv1 1x1 at 9x7, conv2 3x3 stride 2 at 5x4, conv3, downsample
  const c = complexity(net);
  const stem = 27 * 32 * 63;
  const conv1 = 32 * 8 * 63;
  const conv2 = 9 * 8 * 8 * 20;
  const conv3 = 8 * 8 * 20;
  const ds = 32 * 8 * 20;
  const fc = 8 * 3;
  assert.equal(c.macs, stem + conv1 + conv2 + conv3 + ds + fc);
  assert.equal(c.flops, c.macs + 3);
  assert.equal(c.acts, 32 * 63 + 8 * 63 + 8 * 20 * 3 + 3);
  assert.equal(c.params, 27 * 32 + 64 + 32 * 8 + 16 + 9 * 8 * 8 + 16 + 64 + 16 + 256 + 16 + 24 + 3);
});

test('fast sampler complexity equals the IR count for sampled RegNets and AnyNets', () => {
  for (const [file, res, classes] of [
    ['regnetx', 224, 1000],
    ['regnety', 64, 10],
    ['regnetx_small', 28, 10],
    ['anynetx_small', 32, 10],
  ] as const) {
    const space = loadSpace(new URL(`../configs/spaces/${file}.json`, import.meta.url).pathname);
    const rep = sampleSpace(space, { n: 25, seed: 3, res, numClasses: classes, flops: [0, Infinity] });
    for (const s of rep.samples) {
      const spec =
        space.kind === 'regnet'
          ? {
              kind: 'regnet' as const,
              depth: s.depth,
              w0: s.w0,
              wa: s.wa,
              wm: s.wm,
              groupSize: s.group_size,
              bottleRatio: s.bottle_ratio,
              seRatio: s.se_ratio,
              groupMinRatio: 0,
              act: 'relu' as const,
              norm: 'bn' as const,
              stemWidth: 32,
            }
          : {
              kind: 'anynet' as const,
              seRatio: s.se_ratio,
              act: 'relu' as const,
              norm: 'bn' as const,
              stemWidth: 32,
              stages: s.stage_widths.map((w, i) => ({
                width: w,
                depth: s.stage_depths[i]!,
                groupWidth: s.stage_group_widths[i]!,
                bottleRatio: s.stage_bottle_ratios[i]!,
              })),
            };
      const net = buildFromSpec(spec, { res, numClasses: classes, stem: space.stem });
      const c = complexity(net);
      assert.deepEqual([s.params, s.flops, s.acts], [c.params, c.flops, c.acts], `${file} sample ${s.id}`);
      assert.deepEqual(
        net.stages.map((x) => x.width),
        s.stage_widths,
      );
      if (spec.kind === 'anynet')
        assert.deepEqual(
          anynetStages(spec).map((x) => x.width),
          s.stage_widths,
        );
      // and bodyComplexity directly
      const f = bodyComplexity(
        net.stages.map((x) => ({ width: x.width, depth: x.depth, bottleneckWidth: x.bottleneckWidth, groups: x.groups })),
        { res, numClasses: classes, inChans: 3, stem: space.stem, seRatio: s.se_ratio, stemWidth: 32 },
      );
      assert.equal(f.flops, c.flops);
    }
  }
});
