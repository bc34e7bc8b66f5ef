/**
 * Datasets in memory. Pixels stay as bytes (CHW per image, images back to back) and are normalised
 * per batch by the pipeline: CIFAR-10 train is 154 MB as bytes but 614 MB as float32.
 */
export interface Split {
  /** n * channels * height * width bytes; image i starts at i * C*H*W, channel planes in order (R first) */
  images: Uint8Array;
  labels: Int32Array | Uint8Array;
  n: number;
}

export type DatasetName = 'mnist' | 'fashion-mnist' | 'cifar10' | 'cifar100' | 'folder';
export const DATASET_NAMES: readonly DatasetName[] = ['mnist', 'fashion-mnist', 'cifar10', 'cifar100', 'folder'];

export interface Dataset {
  name: string;
  train: Split;
  test: Split;
  numClasses: number;
  channels: number;
  height: number;
  width: number;
  /** per-channel normalisation in [0, 1] pixel units (length = channels) */
  mean: number[];
  std: number[];
  classNames?: string[];
  /** where the files were read from */
  source?: string;
}
