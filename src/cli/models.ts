/** `regnet models [PATTERN...]`: the zoo with structure and complexity. */
import type { Command } from 'commander';
import { summarize } from '../arch/summary.js';
import { buildModel, matchZoo, zooImgSize } from '../arch/zoo.js';
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
  addNetworkOptions(cmd, { imgSize: "each model's default, timm's pretrained input size (224 but for efficientnet_b2..b7)" })
    .option('--format <f>', 'table, csv or json', parseChoice('--format', ['table', 'csv', 'json'] as const), 'table')
    .addOption(new AliasOption('--json', 'format', 'same as --format json').preset('json'))
    .action((patternsIn: string[], o: Omit<NetworkCliOptions, 'imgSize'> & { imgSize?: number; format: Format }) => {
      const patterns = patternsIn.length ? patternsIn : ['*'];
      const names = matchZoo(...patterns);
      if (names.length === 0)
        throw new UsageError(
          `no model matches ${patterns.map((p) => `'${p}'`).join(' ')} (try 'regnetx_*', 'regnety_*', 'regnetv*', 'resnet*', 'resnext*', 'efficientnet_b*')`,
        );
      // without --img-size each model is built at timm's default input size for it (what timm's tables count)
      const sizes = names.map((n) => o.imgSize ?? zooImgSize(n));
      const build = networkBuildOptions({ ...o, imgSize: sizes[0]! });
      const rows = names.map((n, i) => summarize(buildModel(n, networkBuildOptions({ ...o, imgSize: sizes[i]! }))));
      const mixed = sizes.some((s) => s !== sizes[0]);
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
          ['model', 'family', ...(mixed ? ['res'] : []), 'widths', 'depths', 'group widths', 'params', 'flops', 'acts'],
          rows.map((r) => [
            r.model,
            r.family,
            ...(mixed ? [String(r.res)] : []),
            r.stage_widths.join(','),
            r.stage_depths.join(','),
            r.stage_group_widths.join(','),
            fmtSI(r.params),
            fmtSI(r.flops),
            fmtSI(r.acts),
          ]),
          [false, false, ...(mixed ? [true] : []), false, false, false, true, true, true],
        );
        const at = mixed ? "each at timm's default size (res)" : `at ${sizes[0]}x${sizes[0]}`;
        process.stdout.write(
          `${table}\n(${rows.length} models ${at}, ${build.inChans} channel${build.inChans === 1 ? '' : 's'}, ${mixed ? 'imagenet' : build.stem} stem, ${o.numClasses} classes)\n`,
        );
      }
    });
}
