/** `regnet fit`: quantized-linear fit (w0, wa, wm) of a model's per-block widths, and the widths it implies. */
import type { Command } from 'commander';
import { fitRegNet, modelBlockWidths, parseWidthList, resampleWidths } from '../analyze/fit.js';
import { splitStages } from '../space/regnet.js';
import { UsageError } from '../util/errors.js';
import { parseIntOption } from './options.js';

interface FitCliOptions {
  widths?: string;
  depth?: number;
  json?: boolean;
}

export function register(program: Command): void {
  program
    .command('fit')
    .description('fit the quantized linear rule (w0, wa, wm) to per-block widths of a zoo model or a width list; reports e_fit')
    .argument('[model]', 'zoo model name (its stage widths repeated by stage depth)')
    .option('--widths <list>', 'per-block widths, e.g. 48,48,96,96 or 48x2,96x4,240x7')
    .option('--depth <d>', 'fit with this many blocks (widths resampled to d blocks when they differ)', parseIntOption('--depth', 1, 10000))
    .option('--json', 'print the fit as JSON')
    .action((model: string | undefined, o: FitCliOptions) => {
      if ((model === undefined) === (o.widths === undefined)) {
        throw new UsageError('fit needs exactly one of MODEL or --widths LIST');
      }
      const given = o.widths !== undefined ? parseWidthList(o.widths) : modelBlockWidths(model!);
      const widths = o.depth !== undefined ? resampleWidths(given, o.depth) : given;
      const fit = fitRegNet(widths);
      const st = splitStages(fit.fitted_widths);
      if (o.json) {
        const out = {
          source: model ?? 'widths',
          w0: fit.w0,
          wa: fit.wa,
          wm: fit.wm,
          depth: fit.depth,
          e_fit: fit.e_fit,
          e_cont: fit.e_cont,
          continuous: fit.continuous,
          num_stages: fit.num_stages,
          widths: fit.widths,
          fitted_widths: fit.fitted_widths,
          fitted_stage_widths: st.widths,
          fitted_stage_depths: st.depths,
        };
        process.stdout.write(JSON.stringify(out, null, 2) + '\n');
        return;
      }
      const given4 = splitStages(widths);
      const lines = [
        `${model ?? 'widths'}: d=${fit.depth}${o.depth !== undefined && o.depth !== given.length ? ` (resampled from ${given.length} blocks)` : ''}`,
        `  widths        ${given4.widths.join('-')}  depths ${given4.depths.join('-')}`,
        `  fit           w0=${fit.w0} wa=${round(fit.wa, 3)} wm=${round(fit.wm, 4)}  e_fit=${fit.e_fit.toFixed(4)}`,
        `  fitted widths ${st.widths.join('-')}  depths ${st.depths.join('-')}  (${fit.num_stages} stages)`,
        `  continuous    u_j = ${round(fit.continuous.w0, 2)} + ${round(fit.continuous.wa, 2)}*j  e_fit=${fit.continuous.e_fit.toFixed(4)}` +
          `  (fit's own line before quantizing: e=${fit.e_cont.toFixed(4)})`,
      ];
      process.stdout.write(lines.join('\n') + '\n');
    });
}

function round(v: number, d: number): number {
  return Number(v.toFixed(d));
}
