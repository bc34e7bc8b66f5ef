/** `regnet describe`: one model (by name or parameters) or many (--configs FILE.csv), per stage and in total. */
import type { Command } from 'commander';
import { summarize, type NetSummary } from '../arch/summary.js';
import { buildFromSpec } from '../arch/zoo.js';
import { readConfigs } from '../results/samples.js';
import { UsageError } from '../util/errors.js';
import { fmtInt, fmtSI } from '../util/format.js';
import { renderTable } from '../util/table.js';
import { addModelParamOptions, buildResolved, resolveModel, type ModelArgOptions } from './model-args.js';
import { addNetworkOptions, networkBuildOptions, type NetworkCliOptions } from './options.js';

interface DescribeOptions extends ModelArgOptions, NetworkCliOptions {
  json?: boolean;
}

export function register(program: Command): void {
  const cmd = program
    .command('describe')
    .description('describe a model by name, by RegNet parameters, or the rows of a configs CSV (--configs FILE: all rows, or --rows ID)')
    .argument('[model]', 'zoo name, e.g. regnetx_032');
  addModelParamOptions(cmd);
  addNetworkOptions(cmd)
    .option('--json', 'print JSON (an array for a whole --configs file)')
    .action((model: string | undefined, o: DescribeOptions) => {
      const bo = networkBuildOptions(o);
      if (o.config && o.row === undefined) {
        if (model) throw new UsageError('give either a model or --configs, not both');
        const rows = readConfigs(o.config).map((r, i) => {
          try {
            return { id: r.id, s: summarize(buildFromSpec(r.spec, bo, `${r.id}`)) };
          } catch (e) {
            if (e instanceof UsageError) throw new UsageError(`${o.config} row ${i + 1}: ${e.message}`);
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
      process.stdout.write(formatDescription(s, net.stages.map((x) => x.name), net) + '\n');
    });
}

export function formatDescription(s: NetSummary, stageNames: string[], input?: { inChans: number; stem: string }): string {
  const lines: string[] = [];
  lines.push(`${s.model}  (${s.family}, ${s.res}x${s.res}${input ? `, ${input.inChans} channel${input.inChans === 1 ? '' : 's'}, ${input.stem} stem` : ''}, ${s.num_classes} classes)`);
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
