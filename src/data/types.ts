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

export type DatasetName = 'mnist' | 'fashion-mnist' | 'cifar10' | 'cifar100' | 'folder' | 'imagenet';
export const DATASET_NAMES: readonly DatasetName[] = ['mnist', 'fashion-mnist', 'cifar10', 'cifar100', 'folder', 'imagenet'];
/** Datasets read from image files as they are used (too large to hold in memory): a FileDataset. */
export const FILE_DATASET_NAMES: readonly DatasetName[] = ['imagenet'];

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

/** What a dataset's images and labels look like, known from its name alone (without reading it). */
export interface DatasetGeometry {
  /** stored image side (px); image folders are resized to this by default */
  imgSize: number;
  channels: number;
  /** undefined where the data decides (image folders: one class per sub-folder) */
  numClasses?: number;
}

/** The datasets `regnet train` reads, and ImageNet (timm weights evaluated by `regnet eval --weights`). */
export const DATASET_GEOMETRY: Readonly<Record<string, DatasetGeometry>> = {
  imagenet: { imgSize: 224, channels: 3, numClasses: 1000 },
  mnist: { imgSize: 28, channels: 1, numClasses: 10 },
  'fashion-mnist': { imgSize: 28, channels: 1, numClasses: 10 },
  cifar10: { imgSize: 32, channels: 3, numClasses: 10 },
  cifar100: { imgSize: 32, channels: 3, numClasses: 100 },
  folder: { imgSize: 128, channels: 3 },
};

/** A split of image files, decoded batch by batch (src/data/loader.ts). */
export interface FileSplit {
  dir: string;
  files: string[];
  /** class index of each file in the dataset's label set */
  labels: Int32Array;
  n: number;
  /** class folders present (may be fewer than the label set: a part of ImageNet) */
  classesPresent: number;
}

/** An image-file dataset (ImageNet layout): listings only; the pixels are read as batches are needed. */
export interface FileDataset {
  kind: 'files';
  name: string;
  /** absent when the folder has no train/ split (evaluation only) */
  train?: FileSplit;
  test: FileSplit;
  /** size of the label set (1000 for ImageNet, the lines of a --class-map) */
  numClasses: number;
  channels: 3;
  /** the resolution images are cropped to */
  height: number;
  width: number;
  mean: number[];
  std: number[];
  classNames: string[];
  source: string;
}

export function isFileDataset(ds: Dataset | FileDataset): ds is FileDataset {
  return (ds as FileDataset).kind === 'files';
}

/** Images in the training split (0 for an image-file dataset without train/). */
export function trainSize(ds: Dataset | FileDataset): number {
  return isFileDataset(ds) ? (ds.train?.n ?? 0) : ds.train.n;
}
