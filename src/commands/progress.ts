/**
 * Progress of a long-running command on stderr: one live status line, redrawn in
 * place, when stderr is a terminal; otherwise (a pipe, a log file, CI) a plain
 * line every `intervalMs`, so logs stay readable and bounded.
 */
import type { Clock } from './clock.ts';

export interface ProgressStream {
  write(text: string): unknown;
  columns?: number;
}

export interface ProgressOptions {
  stream: ProgressStream;
  /** Live line (terminal) or periodic lines. */
  tty: boolean;
  clock: Clock;
  /** The status text, without line breaks. */
  render(elapsedMs: number): string;
  /** Plain mode: a line at most this often. Default 5 s. */
  intervalMs?: number;
  /** Terminal mode: redraws at most this often. Default 100 ms. */
  redrawMs?: number;
  /** Redraw on a timer too (while waiting on the network or the rate). Off in unit tests. */
  timer?: boolean;
}

const SPINNER = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];
const CLEAR_LINE = '\r\x1b[2K';

export class Progress {
  readonly #options: ProgressOptions;
  readonly #started: number;
  #lastDrawn: number;
  #frame = 0;
  #shown = false;
  #timer: NodeJS.Timeout | undefined;

  constructor(options: ProgressOptions) {
    this.#options = options;
    this.#started = options.clock.now();
    this.#lastDrawn = options.tty ? -Infinity : this.#started;
    if (options.timer !== false) {
      const every = options.tty ? (options.redrawMs ?? 100) : (options.intervalMs ?? 5_000);
      this.#timer = setInterval(() => this.update(), Math.max(50, Math.min(every, 1_000)));
      this.#timer.unref();
    }
  }

  elapsedMs(): number {
    return this.#options.clock.now() - this.#started;
  }

  /** Call as often as convenient; it draws only when due. */
  update(): void {
    const now = this.#options.clock.now();
    const { tty } = this.#options;
    const every = tty ? (this.#options.redrawMs ?? 100) : (this.#options.intervalMs ?? 5_000);
    if (now - this.#lastDrawn < every) return;
    this.#lastDrawn = now;
    this.#draw();
  }

  /** Writes a whole line (a warning, a skipped key) without tearing the live line. */
  line(text: string): void {
    this.#clear();
    this.#options.stream.write(`${text}\n`);
    if (this.#options.tty) this.#draw();
  }

  /** Removes the live line (call before the summary) and stops the timer. */
  stop(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
    this.#clear();
  }

  #draw(): void {
    const text = this.#options.render(this.elapsedMs());
    if (this.#options.tty) {
      const frame = SPINNER[this.#frame++ % SPINNER.length];
      this.#options.stream.write(`${CLEAR_LINE}${fitWidth(`${frame} ${text}`, this.#options.stream.columns)}`);
      this.#shown = true;
    } else {
      this.#options.stream.write(`${text}\n`);
    }
  }

  #clear(): void {
    if (this.#shown) this.#options.stream.write(CLEAR_LINE);
    this.#shown = false;
  }
}

/** Cuts a status line to the terminal width so that redrawing in place works (a wrapped line cannot be cleared). */
export function fitWidth(text: string, columns: number | undefined): string {
  const width = (columns ?? 80) - 1;
  const chars = [...text];
  return chars.length <= width ? text : `${chars.slice(0, Math.max(0, width - 1)).join('')}…`;
}

/** 1234567 → "1,234,567". */
export function formatCount(n: number): string {
  return Math.round(n)
    .toString()
    .replace(/\B(?=(\d{3})+(?!\d))/g, ',');
}

/** 4.2 s → "4.2s", 95 s → "1m 35s", 3 h 5 m → "3h 05m". */
export function formatDuration(ms: number): string {
  const seconds = Math.max(0, ms) / 1000;
  if (seconds < 60) return `${seconds < 10 ? seconds.toFixed(1) : Math.floor(seconds)}s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) return `${minutes}m ${String(Math.floor(seconds % 60)).padStart(2, '0')}s`;
  const hours = Math.floor(minutes / 60);
  if (hours < 48) return `${hours}h ${String(minutes % 60).padStart(2, '0')}m`;
  return `${Math.floor(hours / 24)}d ${String(hours % 24).padStart(2, '0')}h`;
}

/** Messages per second over the elapsed time: "480/s", "0.5/s". */
export function formatRate(count: number, elapsedMs: number): string {
  if (elapsedMs <= 0) return '0/s';
  const rate = (count * 1000) / elapsedMs;
  return `${rate >= 10 ? Math.round(rate) : rate.toFixed(1)}/s`;
}
