/**
 * Which results file a run's row goes to. `results-<dataset>.csv` holds only evaluations of a whole test
 * split over every class of the label set, as timm's results-imagenet.csv does; anything less gets a
 * suffix naming what it covers, and its rows carry an `n_images` column:
 *
 *   -subset-<k>c   only k classes of the label set are present (e.g. 3 wnid folders of ImageNet's 1000)
 *   -train<N>      trained on a --limit-train subset of N images (file datasets: ImageNet)
 *   -val<N>        evaluated on a --limit-val subset of N images
 *
 * e.g. results-imagenet-subset-3c-train12-val6.csv.
 */
export interface EvalScope {
  /** images evaluated */
  evaluated: number;
  /** images of the whole test split */
  testSize: number;
  /** the fewest class folders any split of the run holds, and the size of the label set */
  classesPresent?: number;
  numClasses?: number;
  /** --limit-train N, when it cut the training split */
  limitTrain?: number;
}

export interface ResultsTarget {
  file: string;
  /** true for a suffixed file (the row then records n_images) */
  subset: boolean;
}

export function resultsTarget(dataset: string, s: EvalScope): ResultsTarget {
  const parts: string[] = [];
  if (s.classesPresent !== undefined && s.numClasses !== undefined && s.classesPresent < s.numClasses) parts.push(`subset-${s.classesPresent}c`);
  if (s.limitTrain !== undefined) parts.push(`train${s.limitTrain}`);
  if (s.evaluated < s.testSize) parts.push(`val${s.evaluated}`);
  return { file: `results-${dataset}${parts.map((p) => `-${p}`).join('')}.csv`, subset: parts.length > 0 };
}
