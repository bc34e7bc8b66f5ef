/** `regnet describe`: one model (by name or parameters) or many (--configs FILE.csv), per stage and in total. */
import type { Command } from 'commander';
import { summarize, type NetSummary } from '../arch/summary.js';
import { buildFromSpec } from '../arch/zoo.js';
import { readConfigs } from '../results/samples.js';
import { UsageError } from '../util/errors.js';
import { fmtInt, fmtSI } from '../util/format.js';
import { renderTable } from '../util/table.js';
import { addModelParamOptions, buildResolved, resolveModel, type ModelArgOptions } from './model-args.js';
import { parseChoice, parseIntOption } from './options.js';

interface DescribeOptions extends ModelArgOptions {
  configs?: string;
  res: number;
  numClasses: number;
  stem: 'imagenet' | 'small';
  inChans: number;
  json?: boolean;
}

export function register(program: Command): void {
  const cmd = program
    .command('describe')
    .description('describe a model by name, by RegNet parameters, or every row of a configs CSV')
    .argument('[model]', 'zoo name, e.g. regnetx_032');
  addModelParamOptions(cmd)
    .option('--configs <file.csv>', 'describe every row of a CSV with depth,w0,wa,wm,group_size[,se_ratio,bottle_ratio]')
    .option('--res <n>', 'input resolution', parseIntOption('--res', 1), 224)
    .option('--num-classes <n>', 'classifier classes', parseIntOption('--num-classes', 1), 1000)
    .option('--in-chans <n>', 'input channels', parseIntOption('--in-chans', 1), 3)
    .option('--stem <s>', 'imagenet (3x3 s2 / 7x7 s2 + pool) or small (3x3 s1, for 28-32 px)', parseChoice('--stem', ['imagenet', 'small'] as const), 'imagenet')
    .option('--json', 'print JSON (an array for --configs)')
    .action((model: string | undefined, o: DescribeOptions) => {
      const bo = { res: o.res, numClasses: o.numClasses, stem: o.stem, inChans: o.inChans };
      if (o.configs) {
        if (model) throw new UsageError('give either a model or --configs, not both');
        const rows = readConfigs(o.configs).map((r, i) => {
          try {
            return { id: r.id, s: summarize(buildFromSpec(r.spec, bo, `${r.id}`)) };
          } catch (e) {
            if (e instanceof UsageError) throw new UsageError(`${o.configs} row ${i + 1}: ${e.message}`);
            throw e;
          }
        });
        if (o.json) {
          process.stdout.write(JSON.stringify(rows.map((r) => ({ id: r.id, ...r.s })), null, 2) + '\n');
        } else {
          process.stdout.write(
            renderTable(
              ['id', 'stages', 'widths', 'depths', 'group widths', 'params', 'flops', 'acts'],
              rows.map(({ id, s }) => [id, `${s.num_stages}/${s.total_stages}`, s.stage_widths.join(','), s.stage_depths.join(','), s.stage_group_widths.join(','), fmtSI(s.params), fmtSI(s.flops), fmtSI(s.acts)]),
              [false, false, false, false, false, true, true, true],
            ) + '\n',
          );
        }
        return;
      }
      const net = buildResolved(resolveModel(model, o), bo);
      const s = summarize(net);
      if (o.json) {
        process.stdout.write(JSON.stringify(s, null, 2) + '\n');
        return;
      }
      process.stdout.write(formatDescription(s, net.stages.map((x) => x.name)) + '\n');
    });
}

export function formatDescription(s: NetSummary, stageNames: string[]): string {
  const lines: string[] = [];
  lines.push(`${s.model}  (${s.family}, ${s.res}x${s.res}, ${s.num_classes} classes)`);
  const spec = s.spec;
  if (spec.kind === 'regnet') {
    lines.push(`  d=${spec.depth} w0=${spec.w0} wa=${spec.wa} wm=${spec.wm} g=${spec.groupSize} b=${spec.bottleRatio} se=${spec.seRatio}`);
    lines.push(`  stages: ${s.num_stages} (total_stages ${s.total_stages})`);
  }
  lines.push('');
  lines.push(
    renderTable(
      ['stage', 'width', 'depth', 'bottleneck', 'group width', 'groups', 'se width'],
      s.stage_widths.map((w, i) => [stageNames[i] ?? `s${i + 1}`, w, s.stage_depths[i]!, s.stage_bottleneck_widths[i]!, s.stage_group_widths[i]!, s.stage_groups[i]!, s.stage_se_widths[i]!]),
    ),
  );
  lines.push('');
  lines.push(`  params ${fmtInt(s.params).padStart(16)}  (${fmtSI(s.params)})`);
  lines.push(`  flops  ${fmtInt(s.flops).padStart(16)}  (${fmtSI(s.flops)})`);
  lines.push(`  macs   ${fmtInt(s.macs).padStart(16)}  (${fmtSI(s.macs)})`);
  lines.push(`  acts   ${fmtInt(s.acts).padStart(16)}  (${fmtSI(s.acts)})`);
  return lines.join('\n');
}
