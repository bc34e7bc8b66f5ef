/**
 * Progress for one epoch (or one evaluation): a cli-progress bar on a TTY, plain lines otherwise
 * (logs, CI), nothing for 'none'. Always on stderr so --json output on stdout stays clean.
 */
import cliProgress from 'cli-progress';

export type ProgressMode = 'auto' | 'plain' | 'none';

export interface ProgressFields {
  loss?: number;
  /** percent */
  acc?: number;
}

function fmtTime(s: number): string {
  if (!Number.isFinite(s)) return '?';
  s = Math.round(s);
  const h = Math.floor(s / 3600),
    m = Math.floor((s % 3600) / 60),
    sec = s % 60;
  return h ? `${h}h${String(m).padStart(2, '0')}m` : m ? `${m}m${String(sec).padStart(2, '0')}s` : `${sec}s`;
}

export class Progress {
  private readonly kind: 'bar' | 'plain' | 'none';
  private bar?: cliProgress.SingleBar;
  private readonly t0 = performance.now();
  private lastLine = 0;
  private lastValue = 0;
  private fields: ProgressFields = {};

  constructor(
    mode: ProgressMode,
    private readonly label: string,
    private readonly total: number,
    private readonly unit = 'img',
    /** value the bar starts at (a resumed epoch) */
    private readonly start = 0,
    private readonly stream: NodeJS.WriteStream = process.stderr,
  ) {
    this.kind = mode === 'none' ? 'none' : mode === 'plain' || !stream.isTTY ? 'plain' : 'bar';
    this.lastValue = start;
    if (this.kind === 'bar') {
      this.bar = new cliProgress.SingleBar(
        {
          format: `${label} {bar} {value}/{total} | {stats} | {rate} ${unit}/s | ETA {eta_formatted}`,
          stream,
          barsize: 24,
          hideCursor: null,
          etaBuffer: 50,
          fps: 5,
        },
        cliProgress.Presets.shades_classic,
      );
      this.bar.start(total, start, { stats: '', rate: '-' });
    }
  }

  private rate(value: number): number {
    const dt = (performance.now() - this.t0) / 1000;
    return dt > 0 ? (value - this.start) / dt : 0;
  }

  private stats(): string {
    const parts: string[] = [];
    if (this.fields.loss !== undefined) parts.push(`loss ${this.fields.loss.toFixed(4)}`);
    if (this.fields.acc !== undefined) parts.push(`acc ${this.fields.acc.toFixed(2)}%`);
    return parts.join(' ');
  }

  /** `value` counted in samples (or steps) from the start of the epoch */
  update(value: number, fields: ProgressFields = {}): void {
    this.fields = { ...this.fields, ...fields };
    this.lastValue = value;
    if (this.kind === 'bar') {
      this.bar!.update(value, { stats: this.stats(), rate: this.rate(value).toFixed(0) });
    } else if (this.kind === 'plain') {
      // a line every 15 s at most, so logs stay readable
      const now = performance.now();
      if (now - this.lastLine >= 15_000 && value < this.total) {
        this.lastLine = now;
        this.line(value);
      }
    }
  }

  private line(value: number): void {
    const r = this.rate(value);
    const eta = r > 0 ? (this.total - value) / r : NaN;
    const pct = this.total ? ` (${((100 * value) / this.total).toFixed(0)}%)` : '';
    this.stream.write(`${this.label} ${value}/${this.total}${pct} ${this.stats()} ${r.toFixed(0)} ${this.unit}/s ETA ${fmtTime(eta)}\n`);
  }

  stop(): void {
    if (this.kind === 'bar') {
      this.bar!.update(this.lastValue, { stats: this.stats(), rate: this.rate(this.lastValue).toFixed(0) });
      this.bar!.stop();
    } else if (this.kind === 'plain') {
      const r = this.rate(this.lastValue);
      this.stream.write(
        `${this.label} ${this.lastValue}/${this.total} ${this.stats()} ${r.toFixed(0)} ${this.unit}/s in ${fmtTime((performance.now() - this.t0) / 1000)}\n`,
      );
    }
  }
}
