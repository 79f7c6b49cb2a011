/**
 * Progress of a long-running command on stderr: one live status line, redrawn in
 * place, when stderr is a terminal; otherwise (a pipe, a log file, CI) a plain
 * line every `intervalMs`, so logs stay readable and bounded.
 */
import type { Clock } from '../shared/time.ts';

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
