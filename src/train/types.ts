/**
 * The training contract shared by `regnet train`, `regnet sweep` and `regnet compare`:
 * one request in, one result out. src/train/run.ts implements `trainModel(req): Promise<TrainResult>`.
 */
import type { ModelSpec } from '../arch/spec.js';
import type { AmpDtype, DistributedSpec, EngineChoice, EngineName, Precision } from '../engine/types.js';
import type { HyperOverrides } from './hyper.js';

export interface TrainRequest {
  /** display name and spec of the network */
  model: { name: string; spec: ModelSpec };
  /** 'mnist' (embedded default) | 'fashion-mnist' | 'cifar10' | 'cifar100' | 'folder' */
  dataset: string;
  dataDir?: string;
  /** image-file datasets: a timm class map (one class name per line) instead of ImageNet's 1000 wnids */
  classMap?: string;
  /** recipe name in configs/recipes/ or a path; `overrides` replace its fields (bounds: HyperSchema) */
  recipe?: string;
  overrides?: HyperOverrides &
    Partial<{
      res: number;
      stem: 'imagenet' | 'small';
      inChans: number;
    }>;
  engine: EngineChoice;
  threads?: number;
  device?: string;
  /** torch: mixed precision (autocast bf16/fp16; fp16 with a grad scaler); absent: fp32 */
  amp?: AmpDtype;
  /** torch: NHWC memory format */
  channelsLast?: boolean;
  seed: number;
  limitTrain?: number;
  limitVal?: number;
  /** checkpoint folder (safetensors + state JSON each epoch); resume from it when `resume` */
  checkpointDir?: string;
  resume?: boolean;
  /** where results-<dataset>.csv and runs.csv go; undefined = don't write result files */
  resultsDir?: string;
  /** progress output: 'auto' (bar on a TTY), 'plain' lines, or 'none' */
  progress?: 'auto' | 'plain' | 'none';
  /** stop cleanly (checkpoint written, status 'interrupted') when this signal aborts */
  signal?: AbortSignal;
  /** stop cleanly (as `signal` would) once this many optimiser steps are done in total; for tests and time-boxed runs */
  stopAtStep?: number;
  /**
   * data-parallel: this process's rank (src/train/data-parallel.ts); overrides.batchSize is then the
   * global batch (all ranks), and without it the recipe's batch is per rank
   */
  distributed?: DistributedSpec;
  /** data-parallel: synchronised BatchNorm (statistics of the global batch) */
  syncBn?: boolean;
  /** measure inference throughput after evaluation for the results table (default: when resultsDir is set; `--no-bench`) */
  bench?: boolean;
}

export type TrainStatus = 'ok' | 'diverged' | 'interrupted';

export interface TrainResult {
  status: TrainStatus;
  model: string;
  dataset: string;
  engine: EngineName;
  /** percent on the test split (NaN when diverged before evaluation) */
  top1: number;
  top5: number;
  epochs: number;
  steps: number;
  trainSeconds: number;
  /** training images per second (median over the run) */
  imagesPerSec: number;
  finalLoss: number;
  params: number;
  flops: number;
  acts: number;
  imgSize: number;
  /** resumed from a finished checkpoint: this is its saved result; nothing was trained, evaluated or written */
  alreadyFinished?: boolean;
  /** what the results table records besides (absent on results made without a run, e.g. by tests) */
  batchSize?: number;
  /** inference samples/s measured after evaluation (NaN with --no-bench or without an evaluation) */
  inferSamplesPerSec?: number;
  inferBatchSize?: number;
  device?: string;
  threads?: number;
  /** fp32, or the --amp dtype the run trained with */
  precision?: Precision;
  stem?: 'imagenet' | 'small';
  inChans?: number;
  /** the recipe and the flags that changed it (see recipeLabel) */
  recipe?: string;
  seed?: number;
  /** top-1 / top-5 of the EMA weights (--ema), on the same test images */
  emaTop1?: number;
  emaTop5?: number;
  /** the results file the row went to */
  resultsFile?: string;
}
