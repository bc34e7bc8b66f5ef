/**
 * The canonical name of a network, derived from its architecture alone.
 *
 * A network is what the builder makes of a spec: for RegNets and AnyNets the resolved stages (widths,
 * depths, group widths after the compatibility step), the bottleneck and SE ratios, activation, norm and
 * stem width; for ResNets the block type and stage depths. Two specs that build the same network get the
 * same name, whatever their source (a zoo name, --depth/--w0/... flags, any samples file): RegNet
 * parameters that quantize to the same stages are one network (the sampler drops such draws as
 * duplicates too). Two different networks never share a name: every part of the architecture is spelled
 * out, numbers in their shortest exact decimal form.
 *
 *   regnetx_d1-1-4-7_w24-56-152-368_g8           RegNet without SE, bottleneck ratio 1 (the X block)
 *   regnety_d1-3-6-6_w48-104-208-440_g8          RegNet with SE ratio 0.25 (the Y block)
 *   regnety_..._se0.5                            RegNet with another SE ratio
 *   regnet_..._b0.5                              RegNet without SE and another bottleneck ratio
 *   anynet_d2-3-5-2_w48-96-240-528_g16-16-24-48  AnyNet (per-stage group widths when they differ)
 *   anynet_..._b1-1-0.5-0.5_se0.25               (bottleneck ratios per stage when they differ, SE)
 *   ..._silu _gn _stem24                         non-default activation, norm, stem width
 *   resnet_bottleneck_3-4-6-3                    ResNet
 *   resnext_bottleneck_3-4-6-3_c32_bw4           ResNet variants: cardinality, base width, deep stem
 *   resnet_d_bottleneck_3-4-6-3_deep32_avgdown   (its width), average-pool shortcut, SE ratio
 *   regnetv_d2-4-12-4_w96-..._g64_silu           pre-activation RegNet (timm's RegNetV; _avgdown: average-pool shortcut)
 *   efficientnet_w1.1_d1.2                       EfficientNet by width and depth multiplier
 * The family is modelFamily() of src/arch/spec.ts.
 *
 * A network equal to a zoo model's architecture takes the zoo name instead (regnetx_002, resnet50, ...),
 * also when it is written as an AnyNet. Otherwise the family (RegNet or AnyNet) is part of the name, so
 * an AnyNet that happens to have a RegNet's stages keeps its anynet prefix.
 */
import { regnetStages } from '../space/regnet.js';
import { efficientnetName } from './efficientnet.js';
import { anynetStages } from './regnet.js';
import { resnetOptions } from './resnet.js';
import { modelFamily, ModelSpecSchema, type ModelSpec, type ResNetSpec } from './spec.js';
import { zooEntry, zooNames } from './zoo.js';

/** Shortest decimal that reads back as the same float64 (so distinct values never print alike). */
const num = (v: number): string => String(v);
const list = (v: readonly number[]): string => v.map(num).join('-');
/** One value when every stage has it, else the per-stage list. */
const perStage = (v: readonly number[]): string => (v.every((x) => x === v[0]) ? num(v[0]!) : list(v));

type BodySpec = Exclude<ModelSpec, { kind: 'resnet' } | { kind: 'efficientnet' }>;

/** A ResNet: its family, block and stage depths, then each variant option that is not the default. */
function resnetName(specIn: ResNetSpec): string {
  const o = resnetOptions(specIn);
  const parts = [`${modelFamily(specIn)}_${o.block}_${list(o.layers)}`];
  if (o.cardinality !== 1) parts.push(`c${o.cardinality}`);
  if (o.baseWidth !== 64) parts.push(`bw${o.baseWidth}`);
  if (o.stemType === 'deep') parts.push(`deep${o.stemWidth}`);
  if (o.avgDown) parts.push('avgdown');
  if (o.seRatio > 0) parts.push(`se${num(o.seRatio)}`);
  return parts.join('_');
}

/** A RegNet or AnyNet body, spelled out from its resolved stages (no family prefix, no SE part). */
function bodyName(spec: BodySpec): string {
  let depths: number[], widths: number[], groupWidths: number[], ratios: number[];
  if (spec.kind === 'regnet') {
    const st = regnetStages(spec);
    [depths, widths, groupWidths] = [st.depths, st.widths, st.groupWidths];
    ratios = widths.map(() => spec.bottleRatio);
  } else {
    const st = anynetStages(spec);
    [depths, widths, groupWidths] = [st.map((s) => s.depth), st.map((s) => s.width), st.map((s) => s.groupWidth)];
    ratios = spec.stages.map((s) => s.bottleRatio);
  }
  const b = ratios.some((r) => r !== 1) ? `_b${perStage(ratios)}` : '';
  return `_d${list(depths)}_w${list(widths)}_g${perStage(groupWidths)}${b}`;
}

/** Non-default activation, norm, stem width and shortcut; `_preact` only where the family does not say it. */
function bodyExtras(spec: BodySpec, withPreact = true): string {
  const preact = spec.kind === 'regnet' && spec.preact === true;
  const avg = spec.kind === 'regnet' && spec.downsample === 'avg';
  return (
    (spec.act !== 'relu' ? `_${spec.act}` : '') +
    (spec.norm !== 'bn' ? `_${spec.norm}` : '') +
    (spec.stemWidth !== 32 ? `_stem${spec.stemWidth}` : '') +
    (preact && withPreact ? '_preact' : '') +
    (avg ? '_avgdown' : '')
  );
}

/**
 * The built network, independent of how the spec was written: a RegNet and an AnyNet with the same
 * resolved stages build the same graph and share this key.
 */
export function architectureKey(specIn: ModelSpec): string {
  const spec = ModelSpecSchema.parse(specIn);
  if (spec.kind === 'resnet') return resnetName(spec);
  if (spec.kind === 'efficientnet') return efficientnetName(spec);
  return `body${bodyName(spec)}${spec.seRatio > 0 ? `_se${num(spec.seRatio)}` : ''}${bodyExtras(spec)}`;
}

/**
 * The name spelled out from the architecture (no zoo lookup): the family (modelFamily, the one family
 * rule), the body, and the SE ratio unless the family says it (RegNetY and RegNetV mean 0.25). Throws where the
 * spec cannot be built.
 */
export function architectureName(specIn: ModelSpec): string {
  const spec = ModelSpecSchema.parse(specIn);
  if (spec.kind === 'resnet') return resnetName(spec);
  if (spec.kind === 'efficientnet') return efficientnetName(spec);
  const family = modelFamily(spec);
  // RegNetY and RegNetV mean SE 0.25; a RegNetV without SE says _se0
  const seImplied = (family === 'regnety' || family === 'regnetv') && spec.seRatio === 0.25;
  const se = (spec.seRatio > 0 || family === 'regnetv') && !seImplied ? `_se${num(spec.seRatio)}` : '';
  return `${family}${bodyName(spec)}${se}${bodyExtras(spec, family !== 'regnetv')}`;
}

let zooByArchitecture: Map<string, string> | undefined;

/** architecture key -> zoo name (the first zoo name, in zoo order, where two zoo models build alike). */
function zooIndex(): Map<string, string> {
  if (!zooByArchitecture) {
    zooByArchitecture = new Map();
    for (const name of zooNames()) {
      const key = architectureKey(zooEntry(name).spec);
      if (!zooByArchitecture.has(key)) zooByArchitecture.set(key, name);
    }
  }
  return zooByArchitecture;
}

/** The zoo model with this architecture, if any. */
export function zooNameOf(spec: ModelSpec): string | undefined {
  return zooIndex().get(architectureKey(spec));
}

/** The canonical name: the zoo name of an architecture the zoo has, else the spelled-out one. */
export function canonicalName(spec: ModelSpec): string {
  return zooNameOf(spec) ?? architectureName(spec);
}

/** Whether two specs build the same network. */
export function sameArchitecture(a: ModelSpec, b: ModelSpec): boolean {
  return architectureKey(a) === architectureKey(b);
}
