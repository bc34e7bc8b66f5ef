/**
 * A network for a saved state_dict (a timm safetensors checkpoint, or one written by regnet train):
 * the model built at the input geometry it will run on, with the checkpoint's number of classes, and
 * the weights checked against it. What `regnet predict` and `regnet eval --weights` run.
 */
import type { Network } from '../arch/ir.js';
import { defaultStem, type BuildOptions, type ModelSpec, type Stem } from '../arch/spec.js';
import type { WeightMap } from '../arch/weights.js';
import { buildFromSpec } from '../arch/zoo.js';
import { checkpointNumClasses, fitWeights, readTimmCheckpoint, type Checkpoint } from '../io/timm-weights.js';
import { UsageError } from '../util/errors.js';

export interface NetForCheckpointOptions {
  /** classifier outputs; default: the checkpoint's classifier rows, else 1000 */
  numClasses?: number;
  /** default: the shared rule on the input width (src/arch/spec.ts defaultStem) */
  stem?: Stem;
  /** false: report name/shape differences through onWarn and load what fits */
  strict: boolean;
  /** default: a line on stderr */
  onWarn?: (msg: string) => void;
}

function build(model: { name: string; spec: ModelSpec }, opts: BuildOptions): Network {
  try {
    return buildFromSpec(model.spec, opts, model.name);
  } catch (e) {
    if (e instanceof UsageError) throw e;
    throw new UsageError(`cannot build ${model.name}: ${(e as Error).message}`);
  }
}

/**
 * Build `model` for a checkpoint at a given input size and check the weights against it. The number
 * of classes is o.numClasses, else the checkpoint's classifier rows, else 1000.
 */
export function netForCheckpoint(
  model: { name: string; spec: ModelSpec },
  weightsPath: string,
  input: { chans: number; h: number; w: number },
  o: NetForCheckpointOptions,
): { net: Network; weights: WeightMap; ckpt: Checkpoint } {
  const ckpt = readTimmCheckpoint(weightsPath);
  const geo = { res: input.w, resH: input.h !== input.w ? input.h : undefined, inChans: input.chans, stem: o.stem ?? defaultStem(input.w) };
  let numClasses = o.numClasses;
  if (numClasses === undefined) {
    const probe = build(model, { ...geo, numClasses: 1000 });
    numClasses = checkpointNumClasses(probe, ckpt.weights) ?? 1000;
  }
  const net = build(model, { ...geo, numClasses });
  const onWarn = o.onWarn ?? ((m: string) => void process.stderr.write(m + '\n'));
  const { weights } = fitWeights(net, ckpt, weightsPath, { strict: o.strict, onWarn });
  return { net, weights, ckpt };
}
