/**
 * `regnet merge`: combine the shard CSVs of one sweep (same config hash) into one file, deduped and sorted
 * by id. When the folder's sweep.json tells how many models the sweep has and some have no row, nothing
 * is written and the exit code is 3 (a state, not a usage error), unless --allow-partial.
 */
import type { Command } from 'commander';
import { mergeSweeps } from '../sweep/merge.js';
import { UsageError } from '../util/errors.js';
import { checkWritableFile } from '../util/writable.js';

/** Exit code of a merge that found models without a row (and no --allow-partial). */
export const MERGE_INCOMPLETE_EXIT = 3;

export function register(program: Command): void {
  program
    .command('merge')
    .description('merge sweep shard CSVs (folders or files) of one sweep config into one CSV, deduped by id and sorted')
    .argument('<inputs...>', 'sweep output folders (their sweep.csv and sweep.shard-I-of-N.csv) or CSV files')
    .requiredOption('--out <file.csv>', 'merged CSV to write')
    .option('--allow-partial', `write the merged CSV even when models are missing (else exit ${MERGE_INCOMPLETE_EXIT}, nothing written)`)
    .action((inputs: string[], o: { out: string; allowPartial?: boolean }) => {
      checkWritableFile(o.out, '--out');
      const r = mergeSweeps(inputs, o.out, {
        requireComplete: !o.allowPartial,
        incomplete: (missing) =>
          new UsageError(
            `merge: ${missing.length} model(s) have no row yet (ids ${ids(missing)}): rerun their shards, or pass --allow-partial; nothing written`,
            MERGE_INCOMPLETE_EXIT,
          ),
      });
      const miss = r.missing;
      process.stderr.write(
        `merged ${r.files.length} file(s), ${r.rows.length} models (${r.duplicates} duplicate rows dropped), config ${r.hash} -> ${r.out}` +
          (miss === undefined ? '' : miss.length ? `; ${miss.length} models missing (ids ${ids(miss)})` : '; complete') +
          '\n',
      );
    });
}

function ids(list: number[]): string {
  return `${list.slice(0, 10).join(', ')}${list.length > 10 ? ', ...' : ''}`;
}
