/**
 * The models of a sweep, in order: sampled from a design space, or the rows of a samples file, then the
 * baselines (zoo names); or an explicit list (`regnet train A B --configs F.csv`). Each has an id (its
 * place in the list: row order and shards), its canonical name (what identifies it in rows, results and
 * checkpoint folders) and its design (the columns of its sweep.csv row).
 */
import { basename, extname } from 'node:path';
import { canonicalName } from '../arch/identity.js';
import type { ModelSpec } from '../arch/spec.js';
import { summarize } from '../arch/summary.js';
import { buildFromSpec, zooEntry } from '../arch/zoo.js';
import { readConfigs, sampleSpec } from '../results/samples.js';
import type { SweepRow } from '../results/sweep-rows.js';
import { sampleSpace, sampleSpaceAsync, type Sample } from '../space/sampler.js';
import { UsageError } from '../util/errors.js';
import type { ResolvedSweep } from './config.js';

/** The design columns of a row: a sample's, or the same fields for any spec (complexity NaN until trained). */
export type Design = Omit<Sample, 'kind'> & { kind: SweepRow['kind'] };

export interface SweepModel {
  /** place in the sweep's list */
  id: number;
  /** canonical name (src/arch/identity.ts) */
  name: string;
  spec: ModelSpec;
  design: Design;
  /** the `space` column: the design space, the samples file, or 'baselines' */
  source: string;
  /** a baseline (zoo name) rather than a sampled design */
  baseline: boolean;
}

/** The sampled models of a space sweep (every shard computes the same list); none without a space. */
export function sweepModels(sweep: ResolvedSweep): Sample[] {
  if (!sweep.space) return [];
  return sampleSpace(sweep.space, { n: sweep.config.n ?? 0, seed: sweep.config.seed }).samples;
}

/** A sampled design as a sweep model. */
export function fromSample(s: Sample, source: string): SweepModel {
  const spec = sampleSpec(s);
  return { id: s.id, name: canonicalName(spec), spec, design: s, source, baseline: false };
}

/** Any spec as a sweep model: the design is read off the built network; params/flops/acts come with the result. */
export function fromSpec(id: number, spec: ModelSpec, source: string, baseline = false, name?: string): SweepModel {
  let net;
  try {
    net = summarize(buildFromSpec(spec, { res: 64 }));
  } catch (e) {
    if (e instanceof UsageError) throw e;
    throw new UsageError(`cannot build model ${id} (${source}): ${(e as Error).message}`);
  }
  const regnet = spec.kind === 'regnet' ? spec : undefined;
  const ratios =
    spec.kind === 'regnet'
      ? net.stage_widths.map(() => spec.bottleRatio)
      : spec.kind === 'anynet'
        ? spec.stages.map((s) => s.bottleRatio)
        : net.stage_bottleneck_widths.map((b, i) => b / net.stage_widths[i]!);
  const design: Design = {
    id,
    kind: spec.kind,
    depth: net.depth,
    w0: regnet?.w0 ?? NaN,
    wa: regnet?.wa ?? NaN,
    wm: regnet?.wm ?? NaN,
    group_size: regnet?.groupSize ?? NaN,
    bottle_ratio: regnet?.bottleRatio ?? NaN,
    se_ratio: spec.kind === 'resnet' ? 0 : spec.kind === 'efficientnet' ? 0.25 : spec.seRatio,
    num_stages: net.num_stages,
    stage_widths: net.stage_widths,
    stage_depths: net.stage_depths,
    stage_group_widths: net.stage_group_widths,
    stage_bottle_ratios: ratios,
    params: NaN,
    flops: NaN,
    acts: NaN,
  };
  return { id, name: name ?? canonicalName(spec), spec, design, source, baseline };
}

/**
 * Every model of the sweep, in order, each network once (a later duplicate is dropped): the explicit
 * list, else the space's samples (ids = sample ids) or the samples file's rows (ids = row index, the
 * first `n` rows when n is given), then the baselines with ids after those.
 */
export function sweepEntries(sweep: ResolvedSweep, sampled: Sample[] = sweepModels(sweep)): SweepModel[] {
  if (sweep.models) return sweep.models;
  const c = sweep.config;
  const out: SweepModel[] = [];
  if (sweep.space) out.push(...sampled.map((s) => fromSample(s, sweep.space!.name)));
  if (sweep.samplesFile) {
    const label = basename(sweep.samplesFile, extname(sweep.samplesFile));
    const rows = readConfigs(sweep.samplesFile);
    rows.slice(0, c.n ?? rows.length).forEach((r, i) => out.push(fromSpec(i, r.spec, label, false, r.name)));
  }
  let next = out.reduce((m, x) => Math.max(m, x.id + 1), 0);
  for (const b of c.baselines ?? []) out.push(fromSpec(next++, zooEntry(b).spec, 'baselines', true, b));
  const seen = new Set<string>();
  return out.filter((m) => !seen.has(m.name) && Boolean(seen.add(m.name)));
}

/** sweepEntries that Ctrl-C and SIGTERM can stop during a long sampling: undefined once `signal` aborts. */
export async function sweepEntriesInterruptible(sweep: ResolvedSweep, signal?: AbortSignal): Promise<SweepModel[] | undefined> {
  if (sweep.models || !sweep.space) return sweepEntries(sweep, []);
  const sampled = await sampleSpaceAsync(sweep.space, { n: sweep.config.n ?? 0, seed: sweep.config.seed, signal });
  return sampled && sweepEntries(sweep, sampled.samples);
}
