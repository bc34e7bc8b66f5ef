/**
 * The ResNet family builder, timm layer names: ResNet v1.5 (torchvision / timm: stride on the 3x3 conv),
 * ResNeXt (grouped 3x3), Wide ResNet (wider bottleneck), ResNet-D (deep stem, average-pool shortcut) and
 * SE-ResNe(X)t (squeeze-excitation after bn3). The options follow timm's ResNet class (cardinality,
 * base_width, stem_type 'deep', avg_down, attn_layer 'se'), so its checkpoints load name for name.
 */
import { GraphBuilder } from './graph.js';
import type { Network, StageInfo } from './ir.js';
import { BuildOptionsSchema, modelFamily, type BuildOptions, ResNetSpecSchema, type ResNetSpec } from './spec.js';

const PLANES = [64, 128, 256, 512];
/** stem output width (the deep stem's third conv, or the 7x7 conv) */
const STEM_OUT = 64;

export type ResNetInput = Omit<ResNetSpec, 'kind'>;

/** A ResNet spec with its optional variant fields filled in. */
export type ResNetOptions = Required<ResNetSpec>;

export function resnetOptions(spec: ResNetSpec): ResNetOptions {
  return {
    kind: 'resnet',
    block: spec.block,
    layers: spec.layers,
    cardinality: spec.cardinality ?? 1,
    baseWidth: spec.baseWidth ?? 64,
    stemType: spec.stemType ?? 'default',
    stemWidth: spec.stemWidth ?? 32,
    avgDown: spec.avgDown ?? false,
    seRatio: spec.seRatio ?? 0,
  };
}

/** timm's make_divisible(v, 8) with round_limit 0: the nearest multiple of 8 (halves up), at least 8. */
export function seWidth(channels: number, seRatio: number): number {
  return Math.max(8, Math.floor((channels * seRatio + 4) / 8) * 8);
}

/** Bottleneck (3x3 conv) width of a stage with `planes` planes: floor(planes * baseWidth / 64) * cardinality. */
export function bottleneckWidth(spec: Pick<ResNetOptions, 'block' | 'cardinality' | 'baseWidth'>, planes: number): number {
  return spec.block === 'basic' ? planes : Math.floor((planes * spec.baseWidth) / 64) * spec.cardinality;
}

export function buildResNet(specIn: ResNetInput, opts: BuildOptions = {}, name?: string): Network {
  const parsed = ResNetSpecSchema.parse({ ...specIn, kind: 'resnet' });
  const spec = resnetOptions(parsed);
  if (spec.block === 'basic' && (spec.cardinality !== 1 || spec.baseWidth !== 64)) {
    throw new Error('a basic-block ResNet has cardinality 1 and base width 64');
  }
  const o = BuildOptionsSchema.parse(opts);
  const g = new GraphBuilder();
  const resH = o.resH ?? o.res;
  const small = o.stem === 'small';
  let x = g.input([o.inChans, resH, o.res]);
  if (spec.stemType === 'deep') {
    // timm's nn.Sequential: conv1.0 conv, .1 bn, .2 relu, .3 conv, .4 bn, .5 relu, .6 conv; then bn1
    x = g.act('relu', g.norm('bn', 'conv1.1', g.conv('conv1.0', x, spec.stemWidth, 3, small ? 1 : 2)));
    x = g.act('relu', g.norm('bn', 'conv1.4', g.conv('conv1.3', x, spec.stemWidth, 3)));
    x = g.conv('conv1.6', x, STEM_OUT, 3);
  } else {
    x = small ? g.conv('conv1', x, STEM_OUT, 3, 1) : g.conv('conv1', x, STEM_OUT, 7, 2);
  }
  x = g.norm('bn', 'bn1', x);
  x = g.act('relu', x);
  if (!small) x = g.maxpool(x, 3, 2, 1);

  const expansion = spec.block === 'basic' ? 1 : 4;
  let cin = STEM_OUT;
  const stages: StageInfo[] = [];
  spec.layers.forEach((n, li) => {
    const planes = PLANES[li] ?? 64 * 2 ** li;
    const cout = planes * expansion;
    const width = bottleneckWidth(spec, planes);
    const groups = spec.block === 'basic' ? 1 : spec.cardinality;
    const wSe = spec.seRatio > 0 ? seWidth(cout, spec.seRatio) : 0;
    const stageStride = li === 0 ? 1 : 2;
    for (let bi = 0; bi < n; bi++) {
      const p = `layer${li + 1}.${bi}`;
      const stride = bi === 0 ? stageStride : 1;
      let y: number;
      if (spec.block === 'basic') {
        y = g.act('relu', g.norm('bn', `${p}.bn1`, g.conv(`${p}.conv1`, x, planes, 3, stride)));
        y = g.norm('bn', `${p}.bn2`, g.conv(`${p}.conv2`, y, planes, 3), true);
      } else {
        y = g.act('relu', g.norm('bn', `${p}.bn1`, g.conv(`${p}.conv1`, x, width, 1)));
        y = g.act('relu', g.norm('bn', `${p}.bn2`, g.conv(`${p}.conv2`, y, width, 3, stride, groups)));
        y = g.norm('bn', `${p}.bn3`, g.conv(`${p}.conv3`, y, cout, 1), true);
      }
      if (wSe > 0) {
        let z = g.gap(y);
        z = g.act('relu', g.conv(`${p}.se.fc1`, z, wSe, 1, 1, 1, true));
        z = g.act('sigmoid', g.conv(`${p}.se.fc2`, z, cout, 1, 1, 1, true));
        y = g.mul(y, z);
      }
      let sc = x;
      if (stride !== 1 || cin !== cout) {
        if (spec.avgDown) {
          // timm's downsample_avg: [AvgPool2d(2, stride, ceil_mode=True, count_include_pad=False) or Identity, conv, bn]
          const pooled = stride === 1 ? x : g.avgpool(x, 2, stride, { ceil: true, countIncludePad: false });
          sc = g.norm('bn', `${p}.downsample.2`, g.conv(`${p}.downsample.1`, pooled, cout, 1));
        } else {
          sc = g.norm('bn', `${p}.downsample.1`, g.conv(`${p}.downsample.0`, x, cout, 1, stride));
        }
      }
      x = g.act('relu', g.add(y, sc));
      cin = cout;
    }
    stages.push({
      name: `layer${li + 1}`,
      width: cout,
      depth: n,
      stride: stageStride,
      bottleneckWidth: width,
      groupWidth: width / groups,
      groups,
      seWidth: wSe,
    });
  });
  x = g.gap(x);
  const out = g.fc('fc', x, o.numClasses);
  return {
    name: name ?? resnetName(parsed),
    family: modelFamily(parsed),
    spec: parsed,
    inChans: o.inChans,
    numClasses: o.numClasses,
    res: [resH, o.res],
    stem: o.stem,
    nodes: g.nodes,
    output: out,
    stages,
  };
}

/** A readable name for an unnamed spec, e.g. resnet_bottleneck_3-4-6-3_32x4d_deep_avgdown_se0.0625. */
export function resnetName(spec: ResNetSpec): string {
  const s = resnetOptions(spec);
  let n = `resnet_${s.block}_${s.layers.join('-')}`;
  if (s.cardinality !== 1 || s.baseWidth !== 64) n += `_${s.cardinality}x${s.baseWidth}d`;
  if (s.stemType === 'deep') n += `_deep${s.stemWidth}`;
  if (s.avgDown) n += '_avgdown';
  if (s.seRatio > 0) n += `_se${s.seRatio}`;
  return n;
}
