/** ResNet v1.5 builder (torchvision / timm: stride on the 3x3 conv), timm layer names. */
import { GraphBuilder } from './graph.js';
import type { Network, StageInfo } from './ir.js';
import { BuildOptionsSchema, modelFamily, type BuildOptions, ResNetSpecSchema, type ResNetSpec } from './spec.js';

const PLANES = [64, 128, 256, 512];

export function buildResNet(specIn: Omit<ResNetSpec, 'kind'>, opts: BuildOptions = {}, name?: string): Network {
  const spec = ResNetSpecSchema.parse({ ...specIn, kind: 'resnet' });
  const o = BuildOptionsSchema.parse(opts);
  const g = new GraphBuilder();
  const resH = o.resH ?? o.res;
  let x = g.input([o.inChans, resH, o.res]);
  if (o.stem === 'small') {
    x = g.conv('conv1', x, 64, 3, 1);
  } else {
    x = g.conv('conv1', x, 64, 7, 2);
  }
  x = g.norm('bn', 'bn1', x);
  x = g.act('relu', x);
  if (o.stem !== 'small') x = g.maxpool(x, 3, 2, 1);

  const expansion = spec.block === 'basic' ? 1 : 4;
  let cin = 64;
  const stages: StageInfo[] = [];
  spec.layers.forEach((n, li) => {
    const planes = PLANES[li] ?? 64 * 2 ** li;
    const cout = planes * expansion;
    const stageStride = li === 0 ? 1 : 2;
    for (let bi = 0; bi < n; bi++) {
      const p = `layer${li + 1}.${bi}`;
      const stride = bi === 0 ? stageStride : 1;
      const shortcut = x;
      let y: number;
      if (spec.block === 'basic') {
        y = g.act('relu', g.norm('bn', `${p}.bn1`, g.conv(`${p}.conv1`, x, planes, 3, stride)));
        y = g.norm('bn', `${p}.bn2`, g.conv(`${p}.conv2`, y, planes, 3), true);
      } else {
        y = g.act('relu', g.norm('bn', `${p}.bn1`, g.conv(`${p}.conv1`, x, planes, 1)));
        y = g.act('relu', g.norm('bn', `${p}.bn2`, g.conv(`${p}.conv2`, y, planes, 3, stride)));
        y = g.norm('bn', `${p}.bn3`, g.conv(`${p}.conv3`, y, cout, 1), true);
      }
      let sc = shortcut;
      if (stride !== 1 || cin !== cout) {
        sc = g.norm('bn', `${p}.downsample.1`, g.conv(`${p}.downsample.0`, shortcut, cout, 1, stride));
      }
      x = g.act('relu', g.add(y, sc));
      cin = cout;
    }
    stages.push({ name: `layer${li + 1}`, width: cout, depth: n, stride: stageStride, bottleneckWidth: planes, groupWidth: planes, groups: 1, seWidth: 0 });
  });
  x = g.gap(x);
  const out = g.fc('fc', x, o.numClasses);
  return {
    name: name ?? `resnet_${spec.block}_${spec.layers.join('-')}`,
    family: modelFamily(spec),
    spec,
    inChans: o.inChans,
    numClasses: o.numClasses,
    res: [resH, o.res],
    stem: o.stem,
    nodes: g.nodes,
    output: out,
    stages,
  };
}
