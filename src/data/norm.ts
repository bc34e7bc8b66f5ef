/**
 * Per-dataset normalisation (mean and std per channel, in [0, 1] pixel units): what the pipeline
 * subtracts and divides by, and what an exported model records as its preprocessing. Kept apart from
 * the loaders so it can be looked up without reading any data.
 */
import { IMAGENET_MEAN, IMAGENET_STD } from './folder.js';
import type { DatasetName } from './types.js';

export interface Normalisation {
  mean: number[];
  std: number[];
}

export const DATASET_NORMALISATION: Record<DatasetName, Normalisation> = {
  mnist: { mean: [0.1307], std: [0.3081] },
  'fashion-mnist': { mean: [0.286], std: [0.353] },
  cifar10: { mean: [0.4914, 0.4822, 0.4465], std: [0.247, 0.2435, 0.2616] },
  cifar100: { mean: [0.5071, 0.4865, 0.4409], std: [0.2673, 0.2564, 0.2762] },
  folder: { mean: IMAGENET_MEAN, std: IMAGENET_STD },
  imagenet: { mean: IMAGENET_MEAN, std: IMAGENET_STD },
};
