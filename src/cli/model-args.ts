/**
 * How commands name networks: zoo names, RegNet parameters (--depth --w0 --wa --wm --group-size
 * [--se-ratio --bottle-ratio]), a row of a sampled-configs CSV (--config FILE --row ID), or many rows of
 * many files (--configs FILE [--configs FILE2] [--rows 0,3-5]). Every network gets its canonical name
 * (src/arch/identity.ts): the same network has the same name from any of these sources.
 */
import { InvalidArgumentError, type Command } from 'commander';
import { canonicalName } from '../arch/identity.js';
import type { Network } from '../arch/ir.js';
import type { BuildOptions, ModelSpec } from '../arch/spec.js';
import { buildFromSpec, zooEntry } from '../arch/zoo.js';
import { parseRowSelection, readConfigRow, selectConfigs } from '../results/samples.js';
import { REGNET_PARAM_RULES, regnetParamError, validateRegNetParams, type RegNetParamKey } from '../space/regnet.js';
import { UsageError } from '../util/errors.js';
import { AliasOption } from './options.js';
import { numberText } from './schema-option.js';

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

/** The RegNet parameter flags; their ranges are the ones src/space/regnet.ts states (REGNET_PARAM_RULES). */
const PARAM_FLAGS: Array<[flags: string, key: RegNetParamKey, what: string]> = [
  ['--depth <n>', 'depth', 'RegNet depth d, in blocks'],
  ['--w0 <n>', 'w0', 'RegNet initial width'],
  ['--wa <x>', 'wa', 'RegNet width slope'],
  ['--wm <x>', 'wm', 'RegNet width multiplier'],
  ['--group-size <n>', 'groupSize', 'group width of the 3x3 convs'],
  ['--se-ratio <x>', 'seRatio', 'squeeze-excitation ratio, 0 = RegNetX, 0.25 = RegNetY'],
  ['--bottle-ratio <x>', 'bottleRatio', 'bottleneck ratio b'],
];

/** A value outside the range is a one-line UsageError such as `invalid --w0=20: must be a positive multiple of 8`. */
function parseRegNetParam(flag: string, key: RegNetParamKey) {
  return (text: string): number => {
    const v = numberText(text);
    if (Number.isNaN(v)) throw new InvalidArgumentError(`${flag} must be a number.`);
    const e = regnetParamError(key, v, flag);
    if (e) throw new UsageError(e);
    return v;
  };
}

/**
 * The RegNet parameter flags and one configs row. `rows: 'one'` (commands that take one network):
 * `--configs FILE --rows ID` names the row; `'list'` (train, describe, bench): addModelListOptions owns
 * --configs/--rows. Either way the old spellings --config/--row work, hidden.
 */
export function addModelParamOptions(cmd: Command, rows: 'one' | 'list' = 'one'): Command {
  for (const [flags, key, what] of PARAM_FLAGS) {
    cmd.option(flags, `${what} (${REGNET_PARAM_RULES[key].rule.replace(/^must be /, '')})`, parseRegNetParam(flags.split(' ')[0]!, key));
  }
  if (rows === 'one') {
    cmd
      .addOption(new AliasOption('--configs <file.csv>', 'config', 'a sampled-configs CSV (from regnet sample); --rows picks the row'))
      .addOption(new AliasOption('--rows <id>', 'row', 'row id in --configs'));
  }
  return cmd.addOption(new AliasOption('--config <file.csv>', 'config')).addOption(new AliasOption('--row <id>', 'row'));
}

export interface ResolvedModel {
  name: string;
  spec: ModelSpec;
}

/** Resolve one model from a positional name or the parameter options. */
export function resolveModel(name: string | undefined, o: ModelArgOptions): ResolvedModel {
  const paramFlags = [o.depth, o.w0, o.wa, o.wm, o.groupSize].filter((v) => v !== undefined).length;
  if (name) {
    if (paramFlags > 0 || o.config) throw new UsageError('give either a model name or --depth/--w0/... or --config, not both');
    const e = zooEntry(name); // a torchvision alias resolves to the canonical (timm) name
    return { name: e.name, spec: e.spec };
  }
  if (o.config) {
    if (o.row === undefined) throw new UsageError('--configs needs --rows ID');
    const r = readConfigRow(o.config, o.row);
    return { name: r.name, spec: r.spec };
  }
  if (paramFlags === 0)
    throw new UsageError('name a model (e.g. regnetx_032), or give --depth --w0 --wa --wm --group-size, or --configs FILE --rows ID');
  const missing = (['depth', 'w0', 'wa', 'wm', 'groupSize'] as const).filter((k) => o[k] === undefined);
  if (missing.length) {
    throw new UsageError(
      `missing ${missing.map((k) => '--' + k.replace(/[A-Z]/g, (c) => '-' + c.toLowerCase())).join(', ')} (a RegNet needs --depth --w0 --wa --wm --group-size)`,
    );
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
  return { name: nameOf(spec), spec };
}

/** The canonical name; a spec that cannot be built is a usage error naming the problem. */
function nameOf(spec: ModelSpec): string {
  try {
    return canonicalName(spec);
  } catch (e) {
    if (e instanceof UsageError) throw e;
    throw new UsageError(`cannot build this network: ${(e as Error).message}`);
  }
}

/** One --configs FILE.csv, with the --rows that followed it (all rows without). */
export interface ConfigsArg {
  file: string;
  rows?: string;
}

/** Options of commands that take many models: the `[models...]` argument plus these. */
export interface ModelListOptions extends ModelArgOptions {
  /** every --configs, in order, each with its --rows */
  configs?: ConfigsArg[];
  /** the last --rows given (each is recorded on its --configs) */
  rows?: string;
}

/**
 * --configs FILE.csv (repeatable) and --rows LIST (the rows of the --configs just before it), for
 * commands whose positional argument is `[models...]`. Add addModelParamOptions too when the command
 * also takes one model by parameters.
 */
export function addModelListOptions(cmd: Command): Command {
  return cmd
    .option(
      '--configs <file.csv>',
      'every row of a configs CSV (from regnet sample; a results CSV works too); repeat for more files',
      (file: string, previous: ConfigsArg[] | undefined): ConfigsArg[] => [...(previous ?? []), { file }],
    )
    .option('--rows <list>', 'only these rows of the --configs file just before: ids and ranges, e.g. 0,3-5', (rows: string): string => {
      const list = cmd.getOptionValue('configs') as ConfigsArg[] | undefined;
      const last = list?.at(-1);
      if (!last) throw new InvalidArgumentError('--rows selects rows of a --configs FILE.csv given before it.');
      if (last.rows !== undefined) throw new InvalidArgumentError(`--rows is given twice for ${last.file}.`);
      parseRowSelection(rows);
      last.rows = rows;
      return rows;
    });
}

/**
 * Every model a command was given, in order: zoo names, then the rows of each --configs file, then one
 * model from --depth/--w0/... or --config/--row. A network given twice (under any name) is kept once.
 * `allowNone` returns [] instead of a usage error when nothing names a model.
 */
export function resolveModelList(names: string[], o: ModelListOptions, allowNone = false): ResolvedModel[] {
  const out: ResolvedModel[] = names.map((n) => resolveModel(n, {}));
  for (const c of o.configs ?? []) {
    for (const r of selectConfigs(c.file, c.rows !== undefined ? parseRowSelection(c.rows) : undefined))
      out.push({ name: r.name, spec: r.spec });
  }
  const single = [o.depth, o.w0, o.wa, o.wm, o.groupSize].some((v) => v !== undefined) || o.config !== undefined;
  if (single) out.push(resolveModel(undefined, o));
  if (out.length === 0 && !allowNone) {
    throw new UsageError(
      'name a model (e.g. regnetx_032), or give --configs FILE.csv, --depth --w0 --wa --wm --group-size, or --config FILE --row ID',
    );
  }
  const seen = new Set<string>();
  return out.filter((m) => !seen.has(m.name) && Boolean(seen.add(m.name)));
}

export function buildResolved(m: ResolvedModel, opts: BuildOptions): Network {
  try {
    return buildFromSpec(m.spec, opts, m.name);
  } catch (e) {
    if (e instanceof UsageError) throw e;
    throw new UsageError(`cannot build ${m.name}: ${(e as Error).message}`);
  }
}
