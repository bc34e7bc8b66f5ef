/** `regnet merge`: combine the shard CSVs of one sweep (same config hash) into one file, deduped and sorted by id. */
import type { Command } from 'commander';
import { mergeSweeps } from '../sweep/merge.js';
import { checkWritableFile } from '../util/writable.js';

export function register(program: Command): void {
  program
    .command('merge')
    .description('merge sweep shard CSVs (folders or files) of one sweep config into one CSV, deduped by id and sorted')
    .argument('<inputs...>', 'sweep output folders (their sweep.csv and sweep.shard-I-of-N.csv) or CSV files')
    .requiredOption('--out <file.csv>', 'merged CSV to write')
    .action((inputs: string[], o: { out: string }) => {
      checkWritableFile(o.out, '--out');
      const r = mergeSweeps(inputs, o.out);
      const miss = r.missing;
      process.stderr.write(
        `merged ${r.files.length} file(s), ${r.rows.length} models (${r.duplicates} duplicate rows dropped), config ${r.hash} -> ${r.out}` +
          (miss === undefined
            ? ''
            : miss.length
              ? `; ${miss.length} models missing (ids ${miss.slice(0, 10).join(', ')}${miss.length > 10 ? ', ...' : ''})`
              : '; complete') +
          '\n',
      );
    });
}
