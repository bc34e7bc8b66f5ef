/** `regnet analyze`: EDFs, error-vs-parameter plots with bootstrap bands, and an HTML report from sweep CSVs. */
import { dirname, join } from 'node:path';
import type { Command } from 'commander';
import { analyzeSweeps } from '../analyze/report.js';
import { checkWritableDir } from '../util/writable.js';
import { addAlias, parseIntOption } from './options.js';

interface AnalyzeCliOptions {
  outDir?: string;
  bootstrap: number;
  seed: number;
  top: number;
}

export function register(program: Command): void {
  const cmd = program
    .command('analyze')
    .description(
      'analyse sweep CSVs: error EDFs, error vs each parameter and sampled recipe field with bootstrap best-region bands, per-block widths, baselines marked, repeats averaged per model (models.csv), report.html',
    )
    .argument('<sweep.csv...>', 'sweep result CSVs (columns id, status, top1_err or top1, and design/complexity columns)')
    .option('--out-dir <dir>', 'output folder for the SVGs and report.html (default: <first csv folder>/analysis)')
    .option('--bootstrap <n>', 'bootstrap rounds', parseIntOption('--bootstrap', 1, 1_000_000), 2500)
    .option('--seed <n>', 'bootstrap seed', parseIntOption('--seed', 0), 0)
    .option('--top <n>', 'best models listed per sweep', parseIntOption('--top', 1, 1000), 5);
  addAlias(cmd, '--out <dir>', 'outDir');
  cmd.action((files: string[], o: AnalyzeCliOptions) => {
    const out = o.outDir ?? join(dirname(files[0]!), 'analysis');
    checkWritableDir(out, '--out-dir');
    const res = analyzeSweeps(files, out, { bootstrap: o.bootstrap, seed: o.seed, top: o.top });
    process.stdout.write(res.text + '\n');
    process.stderr.write(`wrote ${res.files.length} files to ${out}\n`);
  });
}
