/**
 * Upper bounds of the sizes a user gives (flags, config files, file headers). Each is far above any real
 * use and far below what would exhaust memory or overflow a typed array, so a typo such as
 * `--batch-size 1000000000` is refused with one line naming the flag instead of a RangeError later.
 */
import { UsageError } from './errors.js';

export const LIMITS = {
  /** input resolution in pixels (side) */
  res: 4096,
  /** images per batch */
  batch: 65_536,
  numClasses: 100_000,
  inChans: 64,
  /** RegNet depth, blocks per stage and widths (w0, group size) */
  depth: 1000,
  width: 65_536,
  threads: 1024,
  /** models sampled from a design space (sample --n, a sweep's n) */
  samples: 1_000_000,
  /** raw draws of the sampler */
  draws: 10_000_000_000,
  epochs: 1_000_000,
  steps: 1_000_000_000,
  /** --limit-train, --limit-val, --limit */
  images: 1_000_000_000,
  /** warm-up and timed rounds of a measurement */
  rounds: 1_000_000,
  /** seconds of a time budget */
  seconds: 86_400,
  retries: 100,
  /** trainings of each model of a sweep (`repeats`) */
  repeats: 1000,
  shards: 1_000_000,
  /** float32 values of one input batch: 2^30 (4 GiB), the largest Float32Array */
  tensorValues: 2 ** 30,
  /** tensors in one safetensors header */
  tensors: 100_000,
} as const;

/**
 * Refuse an input batch of `batch x chans x h x w` values above LIMITS.tensorValues, naming the flags
 * that set it (e.g. '--batch', '--res').
 */
export function checkBatchTensor(batch: number, chans: number, h: number, w: number, flags: { batch: string; res: string }): void {
  const values = batch * chans * h * w;
  if (values > LIMITS.tensorValues) {
    throw new UsageError(
      `${flags.batch} ${batch} x ${chans} x ${h} x ${w} is ${values.toExponential(2)} input values, too large (at most ${LIMITS.tensorValues}, 4 GiB of float32): lower ${flags.batch} or ${flags.res}`,
    );
  }
}
