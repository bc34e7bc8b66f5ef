/** `regnet models [PATTERN...]`: the zoo with structure and complexity. */
import type { Command } from 'commander';
import { summarize } from '../arch/summary.js';
import { buildModel, matchZoo } from '../arch/zoo.js';
import { toCsv } from '../results/csv.js';
import { UsageError } from '../util/errors.js';
import { fmtSI } from '../util/format.js';
import { renderTable } from '../util/table.js';
import { addNetworkOptions, AliasOption, networkBuildOptions, parseChoice, type NetworkCliOptions } from './options.js';

type Format = 'table' | 'csv' | 'json';

export function register(program: Command): void {
  const cmd = program
    .command('models')
    .description('list the model zoo with stage widths/depths, params, flops and acts')
    .argument('[patterns...]', "globs over model names, e.g. 'regnetx_*' 'resnext*' (default: all)");
  addNetworkOptions(cmd)
    .option('--format <f>', 'table, csv or json', parseChoice('--format', ['table', 'csv', 'json'] as const), 'table')
    .addOption(new AliasOption('--json', 'format', 'same as --format json').preset('json'))
    .action((patternsIn: string[], o: NetworkCliOptions & { format: Format }) => {
      const patterns = patternsIn.length ? patternsIn : ['*'];
      const names = matchZoo(...patterns);
      if (names.length === 0)
        throw new UsageError(
          `no model matches ${patterns.map((p) => `'${p}'`).join(' ')} (try 'regnetx_*', 'regnety_*', 'resnet*', 'resnext*')`,
        );
      const build = networkBuildOptions(o);
      const rows = names.map((n) => summarize(buildModel(n, build)));
      if (o.format === 'json') {
        process.stdout.write(
          JSON.stringify(
            rows.map(({ spec: _s, ...r }) => r),
            null,
            2,
          ) + '\n',
        );
      } else if (o.format === 'csv') {
        const header = ['model', 'family', 'res', 'params', 'macs', 'flops', 'acts', 'stage_widths', 'stage_depths', 'stage_group_widths'];
        process.stdout.write(
          toCsv(
            header,
            rows.map((r) => ({
              ...r,
              stage_widths: r.stage_widths.join('-'),
              stage_depths: r.stage_depths.join('-'),
              stage_group_widths: r.stage_group_widths.join('-'),
            })),
          ),
        );
      } else {
        const table = renderTable(
          ['model', 'family', 'widths', 'depths', 'group widths', 'params', 'flops', 'acts'],
          rows.map((r) => [
            r.model,
            r.family,
            r.stage_widths.join(','),
            r.stage_depths.join(','),
            r.stage_group_widths.join(','),
            fmtSI(r.params),
            fmtSI(r.flops),
            fmtSI(r.acts),
          ]),
          [false, false, false, false, false, true, true, true],
        );
        process.stdout.write(
          `${table}\n(${rows.length} models at ${o.imgSize}x${o.imgSize}, ${build.inChans} channel${build.inChans === 1 ? '' : 's'}, ${build.stem} stem, ${o.numClasses} classes)\n`,
        );
      }
    });
}
