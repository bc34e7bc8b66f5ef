/**
 * `regnet describe`: one model (by name or parameters) per stage and in total, or many (zoo names and
 * --configs FILE.csv rows, any mix) as one table.
 */
import type { Command } from 'commander';
import { summarize, type NetSummary } from '../arch/summary.js';
import { isZooName, zooImgSize } from '../arch/zoo.js';
import { fmtInt, fmtSI } from '../util/format.js';
import { renderTable } from '../util/table.js';
import { addModelListOptions, addModelParamOptions, buildResolved, resolveModelList, type ModelListOptions } from './model-args.js';
import { addNetworkOptions, networkBuildOptions, type NetworkCliOptions } from './options.js';

interface DescribeOptions extends ModelListOptions, Omit<NetworkCliOptions, 'imgSize'> {
  imgSize?: number;
  json?: boolean;
}

export function register(program: Command): void {
  const cmd = program
    .command('describe')
    .description('describe models by name, by RegNet parameters, or the rows of configs CSVs')
    .argument('[models...]', 'zoo names, e.g. regnetx_032 resnet50');
  addModelListOptions(addModelParamOptions(cmd, 'list'));
  addNetworkOptions(cmd, { imgSize: "a zoo model's timm default input size (224 but for efficientnet_b2..b7), else 224" })
    .option('--json', 'print JSON (an array for several models or --configs)')
    .action((names: string[], o: DescribeOptions) => {
      // without --img-size a zoo model is built at timm's default input size for it, anything else at 224
      const bo = (m: { name: string }) =>
        networkBuildOptions({ ...o, imgSize: o.imgSize ?? (isZooName(m.name) ? zooImgSize(m.name) : 224) });
      const models = resolveModelList(names, o);
      if (models.length === 1 && !o.configs?.length) {
        const net = buildResolved(models[0]!, bo(models[0]!));
        const s = summarize(net);
        process.stdout.write(
          o.json
            ? JSON.stringify(s, null, 2) + '\n'
            : formatDescription(
                s,
                net.stages.map((x) => x.name),
                net,
              ) + '\n',
        );
        return;
      }
      const rows = models.map((m) => summarize(buildResolved(m, bo(m))));
      if (o.json) {
        process.stdout.write(JSON.stringify(rows, null, 2) + '\n');
        return;
      }
      process.stdout.write(
        renderTable(
          ['model', 'stages', 'widths', 'depths', 'group widths', 'params', 'flops', 'acts'],
          rows.map((s) => [
            s.model,
            `${s.num_stages}/${s.total_stages}`,
            s.stage_widths.join(','),
            s.stage_depths.join(','),
            s.stage_group_widths.join(','),
            fmtSI(s.params),
            fmtSI(s.flops),
            fmtSI(s.acts),
          ]),
          [false, false, false, false, false, true, true, true],
        ) + '\n',
      );
    });
}

export function formatDescription(s: NetSummary, stageNames: string[], input?: { inChans: number; stem: string }): string {
  const lines: string[] = [];
  lines.push(
    `${s.model}  (${s.family}, ${s.res}x${s.res}${input ? `, ${input.inChans} channel${input.inChans === 1 ? '' : 's'}, ${input.stem} stem` : ''}, ${s.num_classes} classes)`,
  );
  const spec = s.spec;
  if (spec.kind === 'regnet') {
    lines.push(`  d=${spec.depth} w0=${spec.w0} wa=${spec.wa} wm=${spec.wm} g=${spec.groupSize} b=${spec.bottleRatio} se=${spec.seRatio}`);
    lines.push(`  stages: ${s.num_stages} (total_stages ${s.total_stages})`);
  }
  lines.push('');
  lines.push(
    renderTable(
      ['stage', 'width', 'depth', 'bottleneck', 'group width', 'groups', 'se width'],
      s.stage_widths.map((w, i) => [
        stageNames[i] ?? `s${i + 1}`,
        w,
        s.stage_depths[i]!,
        s.stage_bottleneck_widths[i]!,
        s.stage_group_widths[i]!,
        s.stage_groups[i]!,
        s.stage_se_widths[i]!,
      ]),
    ),
  );
  lines.push('');
  lines.push(`  params ${fmtInt(s.params).padStart(16)}  (${fmtSI(s.params)})`);
  lines.push(`  flops  ${fmtInt(s.flops).padStart(16)}  (${fmtSI(s.flops)})`);
  lines.push(`  macs   ${fmtInt(s.macs).padStart(16)}  (${fmtSI(s.macs)})`);
  lines.push(`  acts   ${fmtInt(s.acts).padStart(16)}  (${fmtSI(s.acts)})`);
  return lines.join('\n');
}
