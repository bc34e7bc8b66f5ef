/**
 * How commands name a network: a zoo name, RegNet parameters (--depth --w0 --wa --wm --group-size
 * [--se-ratio --bottle-ratio]), or a row of a sampled-configs CSV (--configs FILE --rows ID; the old
 * spellings --config/--row are hidden aliases).
 */
import type { Command } from 'commander';
import type { Network } from '../arch/ir.js';
import type { BuildOptions, ModelSpec } from '../arch/spec.js';
import { buildFromSpec, zooEntry } from '../arch/zoo.js';
import { readConfigRow } from '../results/samples.js';
import { validateRegNetParams } from '../space/regnet.js';
import { UsageError } from '../util/errors.js';
import { AliasOption, parseFloatOption, parseIntOption } from './options.js';

export interface ModelArgOptions {
  depth?: number;
  w0?: number;
  wa?: number;
  wm?: number;
  groupSize?: number;
  seRatio?: number;
  bottleRatio?: number;
  config?: string;
  row?: string;
}

export function addModelParamOptions(cmd: Command): Command {
  return cmd
    .option('--depth <n>', 'RegNet depth d (blocks)', parseIntOption('--depth', 1))
    .option('--w0 <n>', 'RegNet initial width (multiple of 8)', parseIntOption('--w0', 1))
    .option('--wa <x>', 'RegNet width slope (>= 0)', parseFloatOption('--wa', 0))
    .option('--wm <x>', 'RegNet width multiplier (> 1)', parseFloatOption('--wm'))
    .option('--group-size <n>', 'group width of the 3x3 convs', parseIntOption('--group-size', 1))
    .option('--se-ratio <x>', 'squeeze-excitation ratio (0 = RegNetX, 0.25 = RegNetY)', parseFloatOption('--se-ratio', 0))
    .option('--bottle-ratio <x>', 'bottleneck ratio b', parseFloatOption('--bottle-ratio'))
    .addOption(new AliasOption('--configs <file.csv>', 'config', 'a sampled-configs CSV (from regnet sample); --rows picks the row'))
    .addOption(new AliasOption('--rows <id>', 'row', 'row id in --configs'))
    .addOption(new AliasOption('--config <file.csv>', 'config'))
    .addOption(new AliasOption('--row <id>', 'row'));
}

export interface ResolvedModel {
  name: string;
  spec: ModelSpec;
}

/** Resolve one model from a positional name or the parameter options. */
export function resolveModel(name: string | undefined, o: ModelArgOptions): ResolvedModel {
  const paramFlags = [o.depth, o.w0, o.wa, o.wm, o.groupSize].filter((v) => v !== undefined).length;
  if (name) {
    if (paramFlags > 0 || o.config) throw new UsageError('give either a model name or --depth/--w0/... or --configs, not both');
    return { name, spec: zooEntry(name).spec };
  }
  if (o.config) {
    if (o.row === undefined) throw new UsageError('--configs needs --rows ID');
    const r = readConfigRow(o.config, o.row);
    return { name: `${o.config.replace(/^.*\//, '').replace(/\.csv$/, '')}#${r.id}`, spec: r.spec };
  }
  if (paramFlags === 0) throw new UsageError('name a model (e.g. regnetx_032), or give --depth --w0 --wa --wm --group-size, or --configs FILE --rows ID');
  const missing = (['depth', 'w0', 'wa', 'wm', 'groupSize'] as const).filter((k) => o[k] === undefined);
  if (missing.length) {
    throw new UsageError(`missing ${missing.map((k) => '--' + k.replace(/[A-Z]/g, (c) => '-' + c.toLowerCase())).join(', ')} (a RegNet needs --depth --w0 --wa --wm --group-size)`);
  }
  const p = {
    depth: o.depth!,
    w0: o.w0!,
    wa: o.wa!,
    wm: o.wm!,
    groupSize: o.groupSize!,
    bottleRatio: o.bottleRatio ?? 1,
    seRatio: o.seRatio ?? 0,
  };
  validateRegNetParams(p);
  const spec: ModelSpec = { kind: 'regnet', ...p, groupMinRatio: 0, act: 'relu', norm: 'bn', stemWidth: 32 };
  return { name: `regnet_d${p.depth}_w${p.w0}_wa${p.wa}_wm${p.wm}_g${p.groupSize}${p.seRatio ? `_se${p.seRatio}` : ''}${p.bottleRatio !== 1 ? `_b${p.bottleRatio}` : ''}`, spec };
}

export function buildResolved(m: ResolvedModel, opts: BuildOptions): Network {
  try {
    return buildFromSpec(m.spec, opts, m.name);
  } catch (e) {
    if (e instanceof UsageError) throw e;
    throw new UsageError(`cannot build ${m.name}: ${(e as Error).message}`);
  }
}
