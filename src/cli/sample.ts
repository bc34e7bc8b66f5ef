/**
 * `regnet sample`: seeded draws from a design space, written as a configs CSV. When the draws run out
 * before --n samples are found, the ones found are written and stderr says how many.
 */
import type { Command } from 'commander';
import { formatSamples } from '../results/samples.js';
import { sampleSpaceAsync, shortfall, type SampleReport } from '../space/sampler.js';
import { loadSpace, resolveSpacePath } from '../space/space-config.js';
import { writeFileAtomic } from '../util/atomic.js';
import { INTERRUPTED_EXIT_CODE, onInterrupt } from '../util/interrupt.js';
import { parseRange } from '../util/quantity.js';
import { checkWritableFile } from '../util/writable.js';
import { defaultStem, STEMS, type Stem } from '../arch/spec.js';
import { addAlias, parseChoice, parseIntOption, STEM_HELP } from './options.js';

/** A line on stderr every PROGRESS_MS of a long sampling, so it is seen to move (and that Ctrl-C stops it). */
const PROGRESS_MS = 5000;
function progressLine(n: number): (soFar: Readonly<SampleReport>) => void {
  const started = Date.now();
  let next = started + PROGRESS_MS;
  return (soFar) => {
    const now = Date.now();
    if (now < next) return;
    next = now + PROGRESS_MS;
    process.stderr.write(
      `sample: ${soFar.samples.length} of ${n} samples after ${soFar.draws} draws (${Math.round((now - started) / 1000)} s; Ctrl-C stops)\n`,
    );
  };
}

interface SampleCliOptions {
  space: string;
  n: number;
  seed: number;
  flops?: string;
  params?: string;
  acts?: string;
  imgSize?: number;
  stem?: Stem;
  numClasses?: number;
  out?: string;
  maxDraws?: number;
}

export function register(program: Command): void {
  const cmd = program
    .command('sample')
    .description('draw seeded samples (depth, w0, wa, wm, group size) from a design space; prints or writes a configs CSV')
    .option('--space <name|file>', 'space name in configs/spaces/ or a JSON file', 'regnetx')
    .option('--n <n>', 'number of models', parseIntOption('--n', 1), 10)
    .option('--seed <n>', 'random seed', parseIntOption('--seed', 0), 0)
    .option('--flops <min:max>', 'flops range, e.g. 400M:600M')
    .option('--params <min:max>', 'params range, e.g. :6M')
    .option('--acts <min:max>', 'activations range')
    .option('--img-size <n>', 'image size the ranges are measured at (default: the space file)', parseIntOption('--img-size', 1))
    .option(
      '--stem <s>',
      `stem the ranges are measured with: ${STEM_HELP} (without --img-size: the space file's)`,
      parseChoice('--stem', STEMS),
    )
    .option('--num-classes <n>', 'classes the ranges are measured at (default: the space file)', parseIntOption('--num-classes', 1))
    .option('--max-draws <n>', 'stop after this many raw draws (writing the samples found so far)', parseIntOption('--max-draws', 1))
    .option('--out <file.csv>', 'write the CSV here (default: stdout)');
  addAlias(cmd, '--res <n>', 'imgSize', parseIntOption('--res', 1));
  cmd.action(async (o: SampleCliOptions) => {
    if (o.out) checkWritableFile(o.out, '--out');
    const space = loadSpace(resolveSpacePath(o.space));
    const options = {
      n: o.n,
      seed: o.seed,
      flops: o.flops !== undefined ? parseRange(o.flops, '--flops') : undefined,
      params: o.params !== undefined ? parseRange(o.params, '--params') : undefined,
      acts: o.acts !== undefined ? parseRange(o.acts, '--acts') : undefined,
      res: o.imgSize,
      stem: o.stem ?? (o.imgSize !== undefined ? defaultStem(o.imgSize) : undefined),
      numClasses: o.numClasses,
      maxDraws: o.maxDraws,
      allowFewer: true,
    };
    // a large --n samples for a while: Ctrl-C or SIGTERM stops it at once, writing nothing
    const interrupt = onInterrupt('stopping; nothing written');
    let rep: SampleReport | undefined;
    try {
      rep = await sampleSpaceAsync(space, { ...options, signal: interrupt.signal, onProgress: progressLine(o.n) });
    } finally {
      interrupt.dispose();
    }
    if (!rep) {
      process.exitCode = INTERRUPTED_EXIT_CODE;
      return;
    }
    const csv = formatSamples(rep.samples);
    if (o.out) {
      writeFileAtomic(o.out, csv);
      process.stderr.write(
        `wrote ${rep.samples.length} samples to ${o.out} (${rep.draws} draws: ${rep.rejectedStages} broke the stage rule, ${rep.rejectedRange} out of range, ${rep.duplicates} duplicates)\n`,
      );
    } else {
      process.stdout.write(csv);
    }
    if (rep.samples.length < o.n)
      process.stderr.write(
        `sample: ${shortfall(rep, o.n)}; ${o.out ? `wrote ${rep.samples.length} to ${o.out}` : `printed ${rep.samples.length}`} (widen the ranges or raise --max-draws for more)\n`,
      );
  });
}
