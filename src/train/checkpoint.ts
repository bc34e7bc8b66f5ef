/**
 * Checkpoint folder:
 *   model.safetensors      weights and BN buffers, timm names and PyTorch layouts (loadable by timm)
 *   optimizer.safetensors  SGD momentum buffers keyed by parameter name (AdamW: exp_avg.<name>,
 *                          exp_avg_sq.<name>, adamw.step)
 *   model_ema.safetensors  with --ema: the moving average of the weights and BN buffers (timm names)
 *   state.json             where the run stands (global step, epoch), the request and resolved config,
 *                          the data-order RNG description, timings
 * A checkpoint is one atomic unit. A save writes the three files as `<file>.next` (each atomically),
 * `state.json.next` last: once it exists the new set is complete and is the commit record. Then the
 * `.next` files are renamed over the old ones, state.json last. Whoever opens the folder next finishes
 * an interrupted save: with `state.json.next` present the renames are completed (roll forward), without
 * it the partial `.next` files are dropped (the old checkpoint stands). A kill at any byte leaves the old
 * or the new checkpoint, never a mix. Both safetensors files also carry the global step in their metadata
 * as a last check.
 */
import { existsSync, readFileSync, renameSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import type { WeightMap } from '../arch/weights.js';
import type { CompiledNet } from '../engine/types.js';
import { readSafetensorsF32, readSafetensors, writeSafetensors } from '../io/safetensors.js';
import { writeTimmCheckpoint } from '../io/timm-weights.js';
import { removeStaleTemps, syncDir, writeFileAtomic } from '../util/atomic.js';
import { crashPoint } from '../util/crash-points.js';
import { UsageError } from '../util/errors.js';
import { SavedRequestSchema, TrainConfigSchema } from './config.js';

export const MODEL_FILE = 'model.safetensors';
export const OPTIMIZER_FILE = 'optimizer.safetensors';
export const STATE_FILE = 'state.json';
export const EMA_FILE = 'model_ema.safetensors';

export const CheckpointStateSchema = z.object({
  version: z.literal(1),
  /** running: written at an epoch end; interrupted: stopped early; finished: training done (and evaluated) */
  status: z.enum(['running', 'interrupted', 'finished']),
  /** optimiser steps done; the next step is (epoch, step) = (floor(g / stepsPerEpoch), g % stepsPerEpoch) */
  globalStep: z.number().int().min(0),
  epoch: z.number().int().min(0),
  step: z.number().int().min(0),
  seed: z.number(),
  /**
   * The data pipeline has no running RNG: the order of epoch e is Rng.derive(seed, 'epoch:e') and the
   * augmentation of a step Rng.derive(seed, 'aug:e:s'), so (seed, epoch, step) is the whole RNG state.
   */
  rng: z.object({ kind: z.literal('derived'), seed: z.number(), epoch: z.number().int(), step: z.number().int() }),
  request: SavedRequestSchema,
  config: TrainConfigSchema,
  engine: z.string(),
  trainSeconds: z.number().min(0),
  /** images/s of every step so far (for the run's median) */
  stepRates: z.array(z.number()),
  lastLoss: z.number().nullable(),
  result: z.object({ top1: z.number(), top5: z.number(), n: z.number().int() }).optional(),
  savedAt: z.string(),
  /** epochs of the finished runs this one extended (--resume with more --epochs), oldest first */
  extendedFrom: z.array(z.number().int().min(1)).optional(),
});
export type CheckpointState = z.infer<typeof CheckpointStateSchema>;

/** Suffix of the files of a save in progress. */
const NEXT = '.next';
/** Rename order of a commit: state.json last, so it never describes files that are not in place. */
const COMMIT_ORDER = [MODEL_FILE, OPTIMIZER_FILE, EMA_FILE, STATE_FILE];

function commitNext(dir: string): void {
  for (const name of COMMIT_ORDER) {
    try {
      renameSync(join(dir, name + NEXT), join(dir, name));
    } catch (e) {
      // absent: renamed before an interruption (or by a concurrent reader finishing the same commit)
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    }
    if (name === MODEL_FILE) crashPoint('mid-commit');
  }
  syncDir(dir);
}

/**
 * Finish or undo a save that was interrupted (see the header) and remove temp files of killed writers.
 * Safe to call on any folder; a no-op on a clean checkpoint.
 */
export function recoverCheckpoint(dir: string): void {
  if (!existsSync(dir)) return;
  if (existsSync(join(dir, STATE_FILE + NEXT))) commitNext(dir);
  else for (const name of [MODEL_FILE, OPTIMIZER_FILE, EMA_FILE]) rmSync(join(dir, name + NEXT), { force: true });
  removeStaleTemps(dir);
}

export function saveCheckpoint(dir: string, compiled: CompiledNet, state: CheckpointState, ema?: WeightMap): void {
  recoverCheckpoint(dir);
  const meta = { format: 'pt', global_step: String(state.globalStep), model: state.request.model.name };
  const text = JSON.stringify(CheckpointStateSchema.parse(state), null, 1) + '\n';
  writeSafetensors(join(dir, OPTIMIZER_FILE + NEXT), compiled.getOptimizerState(), meta);
  if (ema) writeTimmCheckpoint(join(dir, EMA_FILE + NEXT), ema, state.globalStep, meta);
  // num_batches_tracked (int64) is added so timm's load_state_dict(strict=True) takes the file as is.
  writeTimmCheckpoint(join(dir, MODEL_FILE + NEXT), compiled.getWeights(), state.globalStep, meta);
  // crash tests (util/crash-points.ts) kill the process at these points and at each file's write
  crashPoint('before-commit');
  writeFileAtomic(join(dir, STATE_FILE + NEXT), text);
  crashPoint('after-commit-record');
  commitNext(dir);
  crashPoint('after-commit');
}

export function hasCheckpoint(dir: string): boolean {
  return existsSync(join(dir, STATE_FILE)) || existsSync(join(dir, STATE_FILE + NEXT));
}

export function readCheckpointState(dir: string): CheckpointState {
  if (existsSync(dir) && !statSync(dir).isDirectory()) throw new UsageError(`--checkpoint ${dir} is a file, not a folder`);
  recoverCheckpoint(dir);
  const path = join(dir, STATE_FILE);
  if (!existsSync(path)) throw new UsageError(`--checkpoint ${dir}: no ${STATE_FILE} there (not a regnet checkpoint folder)`);
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    throw new UsageError(`${path}: not valid JSON (${(e as Error).message.split('\n')[0]})`);
  }
  const r = CheckpointStateSchema.safeParse(raw);
  if (!r.success) {
    const i = r.error.issues[0]!;
    throw new UsageError(`${path}: ${i.path.join('.') || '(root)'}: ${i.message}`);
  }
  return r.data;
}

/** The EMA weights of a run trained with --ema, matching state.globalStep. */
export function readCheckpointEma(dir: string, state: CheckpointState): WeightMap {
  const ep = join(dir, EMA_FILE);
  if (!existsSync(ep)) throw new UsageError(`--checkpoint ${dir}: ${EMA_FILE} is missing (the run keeps an EMA)`);
  const es = stepOf(ep);
  if (es !== state.globalStep)
    throw new UsageError(
      `${ep}: holds step ${es} but ${STATE_FILE} says ${state.globalStep} (a write was interrupted); cannot use this folder`,
    );
  return readSafetensorsF32(ep);
}

function stepOf(path: string): number {
  const m = readSafetensors(path).metadata;
  return m.global_step === undefined ? NaN : Number(m.global_step);
}

/** Weights (and momentum buffers when asked) matching state.globalStep. */
export function readCheckpointTensors(
  dir: string,
  state: CheckpointState,
  withOptimizer = true,
): { weights: WeightMap; optimizer?: WeightMap; ema?: WeightMap } {
  const mp = join(dir, MODEL_FILE);
  if (!existsSync(mp)) throw new UsageError(`--checkpoint ${dir}: ${MODEL_FILE} is missing`);
  const weights = readSafetensorsF32(mp);
  const ms = stepOf(mp);
  if (ms !== state.globalStep) {
    throw new UsageError(
      `${mp}: holds step ${ms} but ${STATE_FILE} says ${state.globalStep} (a write was interrupted); cannot resume from this folder`,
    );
  }
  if (!withOptimizer) return { weights };
  const op = join(dir, OPTIMIZER_FILE);
  if (!existsSync(op)) throw new UsageError(`--checkpoint ${dir}: ${OPTIMIZER_FILE} is missing`);
  const os = stepOf(op);
  if (os !== state.globalStep) {
    throw new UsageError(
      `${op}: holds step ${os} but ${STATE_FILE} says ${state.globalStep} (a write was interrupted); cannot resume from this folder`,
    );
  }
  const ema = state.config.ema ? readCheckpointEma(dir, state) : undefined;
  return { weights, optimizer: readSafetensorsF32(op), ...(ema ? { ema } : {}) };
}
