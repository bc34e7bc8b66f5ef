/** `regnet models [PATTERN...]`: the zoo with structure and complexity. */
import type { Command } from 'commander';
import { summarize } from '../arch/summary.js';
import { buildModel, matchZoo } from '../arch/zoo.js';
import { toCsv } from '../results/csv.js';
import { UsageError } from '../util/errors.js';
import { fmtSI } from '../util/format.js';
import { renderTable } from '../util/table.js';
import { parseChoice, parseIntOption } from './options.js';

export function register(program: Command): void {
  program
    .command('models')
    .description('list the model zoo with stage widths/depths, params, flops and acts')
    .argument('[patterns...]', "globs over model names, e.g. 'regnetx_*' 'resnext*' (default: all)")
    .option('--res <n>', 'input resolution', parseIntOption('--res', 1), 224)
    .option('--num-classes <n>', 'classifier classes', parseIntOption('--num-classes', 1), 1000)
    .option('--format <f>', 'table | csv | json', parseChoice('--format', ['table', 'csv', 'json'] as const), 'table')
    .action((patternsIn: string[], o: { res: number; numClasses: number; format: 'table' | 'csv' | 'json' }) => {
      const patterns = patternsIn.length ? patternsIn : ['*'];
      const names = matchZoo(...patterns);
      if (names.length === 0) throw new UsageError(`no model matches ${patterns.map((p) => `'${p}'`).join(' ')} (try 'regnetx_*', 'regnety_*', 'resnet*', 'resnext*')`);
      const rows = names.map((n) => summarize(buildModel(n, { res: o.res, numClasses: o.numClasses })));
      if (o.format === 'json') {
        process.stdout.write(JSON.stringify(rows.map(({ spec: _s, ...r }) => r), null, 2) + '\n');
      } else if (o.format === 'csv') {
        const header = ['model', 'family', 'res', 'params', 'macs', 'flops', 'acts', 'stage_widths', 'stage_depths', 'stage_group_widths'];
        process.stdout.write(
          toCsv(header, rows.map((r) => ({ ...r, stage_widths: r.stage_widths.join('-'), stage_depths: r.stage_depths.join('-'), stage_group_widths: r.stage_group_widths.join('-') }))),
        );
      } else {
        const table = renderTable(
          ['model', 'family', 'widths', 'depths', 'group widths', 'params', 'flops', 'acts'],
          rows.map((r) => [r.model, r.family, r.stage_widths.join(','), r.stage_depths.join(','), r.stage_group_widths.join(','), fmtSI(r.params), fmtSI(r.flops), fmtSI(r.acts)]),
          [false, false, false, false, false, true, true, true],
        );
        process.stdout.write(`${table}\n(${rows.length} models at ${o.res}x${o.res}, ${o.numClasses} classes)\n`);
      }
    });
}
