/**
 * Progress for long operator commands: a cli-progress bar on a terminal, plain lines otherwise (a CI log, a pipe),
 * always on stderr so that stdout stays the command's result (--json).
 */
import cliProgress from 'cli-progress';

export interface Progress {
  /** n more items done. */
  tick(n?: number): void;
  /** The total, once known (a count query can run while the scan starts). */
  setTotal(total: number): void;
  /** Final line; the bar is removed from the terminal's live area. */
  stop(): void;
}

export interface ProgressOptions {
  total?: number;
  /** Default process.stderr. */
  stream?: NodeJS.WritableStream & { isTTY?: boolean };
  /** Plain mode: a line at most this often (default 2000 ms), and one at the end. */
  intervalMs?: number;
  /** Nothing at all (--quiet, or tests). */
  silent?: boolean;
}

const SILENT: Progress = { tick() {}, setTotal() {}, stop() {} };

export function startProgress(label: string, options: ProgressOptions = {}): Progress {
  if (options.silent) return SILENT;
  const stream = options.stream ?? process.stderr;
  let total = options.total ?? 0;
  let done = 0;
  const started = Date.now();
  const rate = () => Math.round(done / Math.max(0.001, (Date.now() - started) / 1000));
  if (stream.isTTY) {
    const bar = new cliProgress.SingleBar(
      {
        stream: stream as NodeJS.WriteStream,
        format: `${label} [{bar}] {percentage}% | {value}/{total} | {rate}/s | ETA {eta_formatted}`,
        hideCursor: true,
        etaBuffer: 50,
      },
      cliProgress.Presets.shades_classic,
    );
    bar.start(total, 0, { rate: 0 });
    return {
      tick(n = 1) {
        done += n;
        if (done > total) bar.setTotal((total = done));
        bar.update(done, { rate: rate() });
      },
      setTotal(t) {
        total = Math.max(t, done);
        bar.setTotal(total);
      },
      stop() {
        bar.update(done, { rate: rate() });
        bar.stop();
      },
    };
  }
  const interval = options.intervalMs ?? 2000;
  let lastLine = started;
  const line = () => {
    const pct = total > 0 ? ` (${Math.min(100, Math.floor((done / total) * 100))}%)` : '';
    stream.write(`${label}: ${done}${total > 0 ? `/${total}` : ''}${pct}, ${rate()}/s\n`);
  };
  return {
    tick(n = 1) {
      done += n;
      const now = Date.now();
      if (now - lastLine >= interval) {
        lastLine = now;
        line();
      }
    },
    setTotal(t) {
      total = t;
    },
    stop() {
      line();
    },
  };
}
