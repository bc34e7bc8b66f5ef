/**
 * The user's own results for one network: rows of `results-<dataset>.csv` and `results-<dataset>-<split>.csv`
 * (timm's results format, written by `regnet train` and `regnet eval`) that describe the same network
 * measured the same way. A row matches on the model name and image size, and on every identity column the
 * file has (`stem`, `in_chans`, `flops`, `param_count`): never across datasets or image sizes.
 */
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { UsageError } from '../util/errors.js';
import { readCsv, type CsvRecord } from './csv.js';

/** What identifies a network's result inside one dataset's results files. */
export interface ResultIdentity {
  model: string;
  imgSize: number;
  stem: string;
  inChans: number;
  /** exact counts of the built network: a row that records different ones is another network */
  params: number;
  flops: number;
}

export interface OwnResult {
  /** the results file's name, e.g. results-fashion-mnist-val200.csv */
  file: string;
  /** the part after the dataset name (`val200`), or null for the full split */
  split: string | null;
  top1: number;
  top5: number | null;
  row: CsvRecord;
}

/** results-<dataset>.csv and results-<dataset>-<split>.csv in dir, full split first, then by name. */
export function resultsFilesOf(dir: string, dataset: string): Array<{ file: string; split: string | null }> {
  if (!existsSync(dir)) return [];
  const prefix = `results-${dataset}`;
  const out: Array<{ file: string; split: string | null }> = [];
  for (const file of readdirSync(dir).sort()) {
    if (!file.startsWith(prefix) || !file.endsWith('.csv')) continue;
    const rest = file.slice(prefix.length, -'.csv'.length);
    if (rest === '') out.push({ file, split: null });
    else if (/^-[\w.-]+$/.test(rest)) out.push({ file, split: rest.slice(1) });
  }
  return out.sort((a, b) => Number(a.split !== null) - Number(b.split !== null) || (a.file < b.file ? -1 : 1));
}

const present = (row: CsvRecord, column: string) => row[column] !== undefined && row[column] !== '';

/** Does this results row describe the identified network? Columns the file lacks are not checked. */
export function matchesIdentity(row: CsvRecord, id: ResultIdentity): boolean {
  if (row.model !== id.model) return false;
  if (Number(row.img_size) !== id.imgSize) return false;
  if (present(row, 'stem') && row.stem !== id.stem) return false;
  if (present(row, 'in_chans') && Number(row.in_chans) !== id.inChans) return false;
  if (present(row, 'flops') && Number(row.flops) !== id.flops) return false;
  // timm writes param_count in millions with 2 decimals
  if (present(row, 'param_count') && Number(row.param_count).toFixed(2) !== (id.params / 1e6).toFixed(2)) return false;
  return true;
}

/**
 * Every matching row with a numeric top-1, full-split files first, then by top-1 (best first). A missing
 * folder gives none; a results file without model/img_size/top1 columns is a usage error naming it.
 */
export function ownResults(dir: string, dataset: string, id: ResultIdentity): OwnResult[] {
  const out: OwnResult[] = [];
  for (const { file, split } of resultsFilesOf(dir, dataset)) {
    const path = join(dir, file);
    const rows = readCsv(path);
    if (rows.length && !['model', 'img_size', 'top1'].every((c) => c in rows[0]!)) {
      throw new UsageError(`${path}: expected timm results columns model,img_size,top1,...`);
    }
    const hits: OwnResult[] = [];
    for (const row of rows) {
      const top1 = Number(row.top1);
      if (row.top1 === '' || !Number.isFinite(top1) || !matchesIdentity(row, id)) continue;
      const top5 = present(row, 'top5') && Number.isFinite(Number(row.top5)) ? Number(row.top5) : null;
      hits.push({ file, split, top1, top5, row });
    }
    out.push(...hits.sort((a, b) => b.top1 - a.top1));
  }
  return out;
}

/** A results row for a model name that was built differently from the compared network. */
export interface OtherBuild {
  file: string;
  imgSize: number;
  stem: string | null;
  inChans: number | null;
}

/**
 * The builds (image size, stem, channels) under which the dataset's results files hold a numeric top-1 for
 * this model name but that are not the identified network: what to pass (`--stem`, `--img-size`, ...) to
 * see them. One entry per distinct build, in file order.
 */
export function otherBuilds(dir: string, dataset: string, id: ResultIdentity): OtherBuild[] {
  const out: OtherBuild[] = [];
  const seen = new Set<string>();
  for (const { file } of resultsFilesOf(dir, dataset)) {
    for (const row of readCsv(join(dir, file))) {
      if (row.model !== id.model || row.top1 === '' || !Number.isFinite(Number(row.top1)) || matchesIdentity(row, id)) continue;
      const b: OtherBuild = {
        file,
        imgSize: Number(row.img_size),
        stem: present(row, 'stem') ? row.stem! : null,
        inChans: present(row, 'in_chans') ? Number(row.in_chans) : null,
      };
      const key = `${b.imgSize}|${b.stem}|${b.inChans}`;
      if (!seen.has(key)) {
        seen.add(key);
        out.push(b);
      }
    }
  }
  return out;
}
