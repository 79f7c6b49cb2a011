import type { Logger } from '../log/logger.ts';
import { receiveCountOf, type Message } from '../aws/queue.ts';
import type { MessageResult } from '../pipeline/process-message.ts';
import { errorMessage } from '../shared/errors.ts';
import { backoffSeconds, sleep } from '../shared/time.ts';

/** The inbound queue, as the worker uses it (src/aws/queue.ts adapts SQS to it). */
export interface WorkerQueue {
  receive(max: number, signal: AbortSignal): Promise<Message[]>;
  changeVisibility(receiptHandle: string, seconds: number): Promise<void>;
  /** Deletes a finished message (the caller may batch). */
  remove(receiptHandle: string): Promise<void>;
}

export interface WorkerOptions {
  queue: WorkerQueue;
  /** Messages scanned at once (CONCURRENCY). */
  concurrency: number;
  /**
   * Messages received ahead of a free slot (RECEIVE_AHEAD), so a slot that frees
   * up starts its next file at once instead of waiting a receive round trip.
   */
  receiveAhead: number;
  visibilityTimeoutSeconds: number;
  shutdownTimeoutMs: number;
  retryDelaySeconds: number;
  /**
   * Must not throw: every failure is a result. `scanned()` may be called once
   * the message needs no more clamd time (only network steps are left): its slot
   * then goes to the next message while this one finishes.
   */
  handle(message: Message, signal: AbortSignal, scanned: () => void): Promise<MessageResult>;
  logger: Logger;
  /** True while no messages should be taken (stale definitions, STALE_DEFINITIONS=pause); see `recheck`. */
  paused?: () => boolean;
  /**
   * A dependency every message needs (clamd). When a failure shows it is down,
   * the worker stops receiving instead of failing message after message (each
   * failed receive brings a good message closer to the dead-letter queue), and
   * resumes once `recovered` resolves true.
   */
  outage?: {
    isOutage(error: unknown): boolean;
    recovered(signal: AbortSignal): Promise<boolean>;
  };
  /** Told the number of messages held whenever it changes (ECS task scale-in protection). */
  onInFlight?: (count: number) => void;
}

interface Held {
  message: Message;
  controller: AbortController;
  heartbeat: NodeJS.Timeout;
  state: 'waiting' | 'scanning' | 'finishing';
}

/**
 * Polls the inbound queue and keeps up to `concurrency` messages scanning. A slot
 * is held from the start of a message until its verdict; the network steps after
 * it (tag, forward, delete) run without one, and a few messages are received
 * ahead, so that with AWS round trips of tens of milliseconds the slots spend
 * their time scanning rather than waiting (docs/benchmarks.md, latency mode).
 *
 * Every held message, waiting, scanning or finishing, has a visibility
 * heartbeat, and the total held is bounded (twice the slots plus those received
 * ahead) so a slow network cannot pile up work.
 */
export class Worker {
  readonly #options: WorkerOptions;
  readonly #held = new Set<Held>();
  readonly #waiting: Held[] = [];
  #scanning = 0;
  /** Aborted when the stop begins: ends backoff and outage waits at once. */
  readonly #stopController = new AbortController();
  /**
   * Aborted only at the shutdown deadline. A long poll cut short can still take
   * messages on the server, which then stay hidden for a whole visibility timeout;
   * letting it return means whatever it brings is handed straight back.
   */
  readonly #receiveController = new AbortController();
  #stopping = false;
  #loop: Promise<void> | undefined;
  #outage: Promise<void> | undefined;
  readonly #settling = new Set<Promise<void>>();
  #wake: (() => void) | undefined;

  constructor(options: WorkerOptions) {
    this.#options = options;
  }

  /** Messages held: received and not yet deleted or returned. */
  get inFlight(): number {
    return this.#held.size;
  }

  /** False while clamd is known to be down (an outage), true otherwise. */
  get dependencyUp(): boolean {
    return this.#outage === undefined;
  }

  /** Taking messages: started, not stopping, not paused and no dependency down. */
  get ready(): boolean {
    return this.#loop !== undefined && !this.#stopping && this.#outage === undefined && this.#options.paused?.() !== true;
  }

  /** Looks at `paused` again (call it when what it reads has changed). */
  recheck(): void {
    this.#notify();
  }

  /** Starts polling; the promise settles when the poll loop has ended. */
  start(): Promise<void> {
    this.#loop ??= this.#poll();
    return this.#loop;
  }

  get #limit(): number {
    return 2 * this.#options.concurrency + this.#options.receiveAhead;
  }

  /** How many to receive now: enough for the free slots and the read-ahead, within the bound. */
  #wanted(): number {
    const { concurrency, receiveAhead } = this.#options;
    const forSlots = concurrency - this.#scanning + receiveAhead - this.#waiting.length;
    return Math.min(10, forSlots, this.#limit - this.#held.size);
  }

  /** Resolves at the next change of state (a slot freed, a message settled, the stop). */
  #changed(): Promise<void> {
    return new Promise((resolve) => {
      this.#wake = resolve;
    });
  }

  #notify(): void {
    const wake = this.#wake;
    this.#wake = undefined;
    wake?.();
  }

  async #poll(): Promise<void> {
    const { logger, queue } = this.#options;
    let failures = 0;
    while (!this.#stopping) {
      if (this.#outage) {
        await this.#outage;
        continue;
      }
      if (this.#options.paused?.()) {
        await this.#changed();
        continue;
      }
      const wanted = this.#wanted();
      if (wanted <= 0) {
        await this.#changed();
        continue;
      }
      let messages: Message[];
      try {
        messages = await queue.receive(wanted, this.#receiveController.signal);
        failures = 0;
      } catch (error) {
        if (this.#stopping) break;
        failures += 1;
        const wait = backoffSeconds(failures, 1, 30);
        logger.error({ error: errorMessage(error), retryInSeconds: wait }, 'receive from the inbound queue failed');
        await sleep(wait * 1000, this.#stopController.signal);
        continue;
      }
      for (const message of messages) {
        // Received as the stop or an outage began: hand it straight back rather than sit on it.
        if (this.#stopping || this.#outage) this.#track(message, this.#returnNow(message));
        else this.#waiting.push(this.#hold(message));
      }
      this.#dispatch();
    }
  }

  #hold(message: Message): Held {
    const held: Held = { message, controller: new AbortController(), heartbeat: this.#startHeartbeat(message), state: 'waiting' };
    this.#held.add(held);
    this.#options.onInFlight?.(this.#held.size);
    return held;
  }

  #dispatch(): void {
    while (!this.#stopping && !this.#outage && this.#scanning < this.#options.concurrency) {
      const next = this.#waiting.shift();
      if (!next) break;
      this.#run(next);
    }
  }

  #run(held: Held): void {
    const { message } = held;
    held.state = 'scanning';
    this.#scanning += 1;
    const scanned = () => {
      if (held.state !== 'scanning') return;
      held.state = 'finishing';
      this.#scanning -= 1;
      this.#dispatch();
      this.#notify();
    };
    const settled = this.#options
      .handle(message, held.controller.signal, scanned)
      .then(async (result) => {
        // Before the slot is freed: an outage must hand back the waiting messages, not start one.
        if (result.action === 'retry' && !this.#stopping && this.#options.outage?.isOutage(result.error)) this.#enterOutage();
        scanned();
        clearInterval(held.heartbeat);
        if (result.action === 'delete') {
          // Done: the delete may wait for its batch without counting against the bound.
          this.#forget(held);
          await this.#options.queue.remove(message.ReceiptHandle!).catch((error: unknown) => {
            this.#options.logger.error(
              { messageId: message.MessageId, error: errorMessage(error) },
              'could not delete the finished message; it will be delivered again and its steps redone',
            );
          });
          return;
        }
        // Stopping: give it to another worker now. Otherwise wait a little longer
        // each time, so a short outage does not use up the redrive budget at once.
        const seconds = this.#stopping
          ? 0
          : backoffSeconds(receiveCountOf(message), this.#options.retryDelaySeconds, this.#options.visibilityTimeoutSeconds);
        await this.#returnAfter(message, seconds);
      })
      .finally(() => {
        scanned();
        this.#forget(held);
      });
    this.#track(message, settled);
  }

  /** Keeps track of a message's last step, so the stop can wait for it. */
  #track(message: Message, settling: Promise<void>): void {
    const tracked = settling
      .catch((error: unknown) => {
        this.#options.logger.error(
          { messageId: message.MessageId, error: errorMessage(error) },
          'could not settle the message; it returns when its visibility timeout ends',
        );
      })
      .finally(() => {
        this.#settling.delete(tracked);
        this.#notify();
      });
    this.#settling.add(tracked);
  }

  #forget(held: Held): void {
    clearInterval(held.heartbeat);
    if (this.#held.delete(held)) this.#options.onInFlight?.(this.#held.size);
    this.#notify();
  }

  /** Gives back every message not yet started (the stop, or an outage). */
  #returnWaiting(): void {
    for (const held of this.#waiting.splice(0)) {
      this.#forget(held);
      this.#track(held.message, this.#returnNow(held.message));
    }
  }

  #enterOutage(): void {
    if (this.#outage || !this.#options.outage) return;
    const { logger } = this.#options;
    logger.warn('clamd is unavailable: not taking new messages until it answers again');
    this.#returnWaiting();
    const recovered = this.#options.outage.recovered(this.#stopController.signal);
    this.#outage = recovered
      .then((ok) => {
        if (ok) logger.info('clamd answers again: taking messages');
      })
      .catch((error: unknown) => {
        logger.error({ error: errorMessage(error) }, 'waiting for clamd failed; taking messages again');
      })
      .finally(() => {
        this.#outage = undefined;
        this.#notify();
      });
  }

  /** Keeps a message hidden while it is held, so a long scan is not handed to another worker. */
  #startHeartbeat(message: Message): NodeJS.Timeout {
    const { visibilityTimeoutSeconds, queue, logger } = this.#options;
    const everyMs = Math.max(1, Math.floor(visibilityTimeoutSeconds / 3)) * 1000;
    const timer = setInterval(() => {
      queue.changeVisibility(message.ReceiptHandle!, visibilityTimeoutSeconds).catch((error: unknown) => {
        logger.warn({ messageId: message.MessageId, error: errorMessage(error) }, 'visibility heartbeat failed');
      });
    }, everyMs);
    timer.unref();
    return timer;
  }

  #returnNow(message: Message): Promise<void> {
    return this.#returnAfter(message, 0);
  }

  async #returnAfter(message: Message, seconds: number): Promise<void> {
    try {
      await this.#options.queue.changeVisibility(message.ReceiptHandle!, seconds);
    } catch (error) {
      this.#options.logger.warn(
        { messageId: message.MessageId, error: errorMessage(error) },
        'could not return the message early; it returns when its visibility timeout ends',
      );
    }
  }

  /**
   * Stops receiving, returns what was received ahead, lets work in progress finish
   * within the shutdown timeout, then aborts what is left and returns those
   * messages to the queue.
   */
  async stop(): Promise<void> {
    if (this.#stopping) return this.#settled();
    this.#stopping = true;
    this.#stopController.abort();
    this.#returnWaiting();
    this.#notify();
    const { logger, shutdownTimeoutMs } = this.#options;
    logger.info({ inFlight: this.#held.size, shutdownTimeoutMs }, 'stopping: no new messages; finishing work in progress');
    const deadline = new AbortController();
    const timer = setTimeout(() => deadline.abort(), shutdownTimeoutMs);
    timer.unref();
    const settled = this.#settled();
    await Promise.race([settled, new Promise((resolve) => deadline.signal.addEventListener('abort', resolve, { once: true }))]);
    clearTimeout(timer);
    if (deadline.signal.aborted) {
      logger.warn({ inFlight: this.#held.size }, 'shutdown timeout reached: aborting work in progress and returning it to the queue');
      this.#receiveController.abort();
      for (const held of this.#held) held.controller.abort(new Error('worker is shutting down'));
    }
    return settled;
  }

  async #settled(): Promise<void> {
    await this.#loop;
    while (this.#settling.size > 0) await Promise.all([...this.#settling]);
  }
}
