/** Public surface of the data layer. */
export * from './types.js';
export { resolveDataset, mnistDataDir, fashionMnistDir, FASHION_MNIST_CLASSES, type ResolveOptions } from './resolve.js';
export { readIdx, readIdxSplit, readIdxFolder, findIdxFile } from './idx.js';
export { readCifar10, readCifar100, CIFAR10_CLASSES, type Cifar100Label } from './cifar.js';
export {
  listImageFolder, expandImagePaths, loadImageFolder, decodeImage, evalPreprocess, evalGeometry, folderEvalBatches, normaliseChw,
  IMAGENET_MEAN, IMAGENET_STD, type Interpolation, type EvalPreprocessOptions, type EvalBatch,
} from './folder.js';
export { BatchPipeline, datasetPipeline, defaultAugment, limitSubset, type Batch, type PipelineOptions, type AugmentOptions, type ResizeMode } from './pipeline.js';
export { pilResize, nearestIndices, type PilFilter, type Image8, type Region } from './pil-resize.js';
export { decodeRgbLikePil } from './pil-decode.js';
export { imagenetClasses, type ImageNetClasses } from './imagenet-classes.js';
