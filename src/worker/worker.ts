import type { Logger } from '../log/logger.ts';
import { receiveCountOf, type Message } from '../aws/queue.ts';
import { MAX_BATCH_ENTRIES } from '../aws/send-batch.ts';
import type { MessageResult } from '../pipeline/process-message.ts';
import { errorMessage } from '../shared/errors.ts';
import { backoffSeconds, sleep } from '../shared/time.ts';

/** The most one ReceiveMessage may ask for (SQS's limit). */
const MAX_RECEIVE = 10;

/**
 * Finished messages that may wait together for one batched forward (SQS takes 10
 * a batch; src/worker/service.ts, BATCH_WINDOW_MS). They are still held, so the
 * bound leaves room for a batch of them beside the slots and the read-ahead.
 */
const FORWARD_BATCH = MAX_BATCH_ENTRIES;

/** Beyond its long-poll wait, how long a stop waits for a receive under way before it counts it as stalled and aborts it. */
const RECEIVE_STALL_MS = 10_000;

/** A queue the worker reads (src/aws/queue.ts adapts SQS to it): the inbound queue, or the rescan queue. */
export interface WorkerQueue {
  receive(max: number, signal: AbortSignal): Promise<Message[]>;
  changeVisibility(receiptHandle: string, seconds: number): Promise<void>;
  /** Deletes a finished message (the caller may batch). */
  remove(receiptHandle: string): Promise<void>;
}

/** Which queue a message came from: the inbound queue (live uploads), or the rescan queue (the backfill lane). */
export type Lane = 'live' | 'rescan';

export interface WorkerOptions {
  /** The inbound queue: live uploads. */
  queue: WorkerQueue;
  /**
   * RESCAN_QUEUE, the backfill lane: read only with capacity live uploads leave
   * free (the rule is at #pollRescan), so a backfill never starves uploads.
   */
  rescanQueue?: WorkerQueue;
  /** Messages scanned at once (CONCURRENCY). */
  concurrency: number;
  /**
   * Messages received ahead of a free slot (RECEIVE_AHEAD), so a slot that frees
   * up starts its next file at once instead of waiting a receive round trip.
   */
  receiveAhead: number;
  visibilityTimeoutSeconds: number;
  /** RECEIVE_WAIT_TIME: how long a receive may wait (SQS long polling); bounds how long a stop waits for one under way. */
  receiveWaitSeconds: number;
  shutdownTimeoutMs: number;
  retryDelaySeconds: number;
  /**
   * Must not throw: every failure is a result. `scanned()` may be called once
   * the message needs no more clamd time (only network steps are left): its slot
   * then goes to the next message while this one finishes.
   */
  handle(message: Message, signal: AbortSignal, scanned: () => void, lane: Lane): Promise<MessageResult>;
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
  lane: Lane;
  controller: AbortController;
  heartbeat: NodeJS.Timeout | undefined;
  /**
   * The heartbeat's visibility change under way, if any. A return waits for it:
   * sent on another connection, it could land after the return and hide the
   * message again for a whole visibility timeout.
   */
  beat: Promise<void> | undefined;
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
 * heartbeat, and the total held is bounded (twice the slots, those received
 * ahead, and a batch of forwards) so a slow network cannot pile up work.
 *
 * With a rescan queue, a second loop fills the slots uploads leave free with
 * rescan work (#pollRescan); a live message never waits behind rescan work
 * longer than the scans already running.
 */
export class Worker {
  readonly #options: WorkerOptions;
  readonly #held = new Set<Held>();
  /** Live messages received and not yet started; they take the next free slot. */
  readonly #waiting: Held[] = [];
  /** Rescan messages received and not yet started: only when no live message waits. */
  readonly #rescanWaiting: Held[] = [];
  #scanning = 0;
  /**
   * Whether the last receive from the inbound queue brought fewer messages than it
   * asked for: uploads have left capacity free. False until the first receive has
   * come back (a backlog of uploads at start is not raced by rescan work).
   */
  #liveIdle = false;
  /** Aborted when the stop begins: ends backoff and outage waits at once. */
  readonly #stopController = new AbortController();
  /**
   * Aborted only when a receive outlives its long-poll wait by RECEIVE_STALL_MS
   * after the stop began (a stalled connection), never at the shutdown deadline:
   * SQS can still hand messages to a long poll the client cut short, and nobody
   * would read them for a whole visibility timeout (aws/aws-sdk-js#2350; the
   * returns wait for the receives, see #returnAfter).
   */
  readonly #receiveController = new AbortController();
  #stopping = false;
  #loop: Promise<void> | undefined;
  /** The receives under way, of both lanes. */
  readonly #receiving = new Set<Promise<void>>();
  #outage: Promise<void> | undefined;
  readonly #settling = new Set<Promise<void>>();
  readonly #wakers: Array<() => void> = [];

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

  /** Starts polling; the promise settles when the poll loops have ended. */
  start(): Promise<void> {
    this.#loop ??= Promise.all([this.#poll(), this.#pollRescan()]).then(() => undefined);
    return this.#loop;
  }

  get #limit(): number {
    return 2 * this.#options.concurrency + this.#options.receiveAhead + FORWARD_BATCH;
  }

  /** How many are needed now: enough for the free slots and the read-ahead, within the bound (receives under way not counted). */
  #wanted(): number {
    const { concurrency, receiveAhead } = this.#options;
    const forSlots = concurrency - this.#scanning + receiveAhead - this.#waiting.length;
    return Math.min(forSlots, this.#limit - this.#held.size);
  }

  /** Resolves at the next change of state (a slot freed, a message settled, a receive came back, the stop). */
  #changed(): Promise<void> {
    return new Promise((resolve) => {
      this.#wakers.push(resolve);
    });
  }

  #notify(): void {
    for (const wake of this.#wakers.splice(0)) wake();
  }

  /**
   * The live lane: receives from the inbound queue for the free slots and the
   * read-ahead. A second receive goes out beside one under way once half the
   * slots' worth is wanted beyond its ask: one receive at a time brings at most
   * what was wanted when it left, so with round trips of tens of milliseconds the
   * slots that free up meanwhile would wait for the next one (bench/history.md,
   * "Two receives at once").
   */
  #poll(): Promise<void> {
    const more = Math.max(1, Math.ceil(this.#options.concurrency / 2));
    return this.#pollLane('live', this.#options.queue, () => this.#wanted(), { receives: 2, more });
  }

  /** Slots that neither a running scan nor a message received for it claims. */
  get #freeSlots(): number {
    return this.#options.concurrency - this.#scanning - this.#waiting.length - this.#rescanWaiting.length;
  }

  /**
   * The backfill lane. The rescan queue is read only when
   * - the last receive from the inbound queue came back with fewer messages than
   *   it asked for (uploads have nothing more waiting), and
   * - a slot is free that no received message claims,
   * and then for at most those free slots: rescan work is never received ahead,
   * so it never queues in front of an upload. A live message that arrives while
   * every slot scans rescan work is received by the inbound queue's long poll
   * (it keeps polling for the read-ahead) and takes the first slot that frees:
   * it waits for one of the scans already running, never for the backlog.
   */
  async #pollRescan(): Promise<void> {
    const { rescanQueue } = this.#options;
    if (!rescanQueue) return;
    await this.#pollLane('rescan', rescanQueue, () => (this.#liveIdle ? Math.min(this.#freeSlots, this.#limit - this.#held.size) : 0), {
      receives: 1,
      more: 1,
    });
  }

  /**
   * One lane's loop: receive what `wanted` allows (less what receives under way
   * asked for), hold it, start what fits; wait for a change of state while it
   * allows nothing. Up to `receives` go out at once, a further one only for at
   * least `more` messages, and only while none under way asked for SQS's most
   * (then it lacked nothing when it left). A failed receive is retried after a
   * growing pause, not in a tight loop: its ask stays counted until the pause ends.
   */
  async #pollLane(lane: Lane, queue: WorkerQueue, wanted: () => number, limits: { receives: number; more: number }): Promise<void> {
    /** The receives under way, each with what it asked for. */
    const under = new Map<Promise<void>, number>();
    const failures = { inARow: 0 };
    while (!this.#stopping) {
      if (this.#outage) {
        await this.#outage;
        continue;
      }
      const asks = [...under.values()];
      const count = this.#options.paused?.() ? 0 : Math.min(MAX_RECEIVE, wanted() - asks.reduce((sum, ask) => sum + ask, 0));
      // A further receive only for what was wanted after the ones under way left: one that
      // asked for SQS's most was short of nothing then (an idle worker keeps one long poll).
      const further = asks.length > 0 && (count < limits.more || asks.includes(MAX_RECEIVE));
      if (count <= 0 || asks.length >= limits.receives || further) {
        await this.#changed();
        continue;
      }
      const receiving = this.#receiveOnce(lane, queue, count, failures).finally(() => {
        under.delete(receiving);
        this.#receiving.delete(receiving);
        this.#notify();
      });
      under.set(receiving, count);
      this.#receiving.add(receiving);
    }
    await Promise.all(under.keys());
  }

  /** One receive of `count`, and what it brought held; a failure logged and paused on (it never rejects). */
  async #receiveOnce(lane: Lane, queue: WorkerQueue, count: number, failures: { inARow: number }): Promise<void> {
    let messages: Message[];
    try {
      messages = await queue.receive(count, this.#receiveController.signal);
      failures.inARow = 0;
    } catch (error) {
      if (this.#stopping) return;
      if (lane === 'live') this.#liveIdle = false;
      failures.inARow += 1;
      const wait = backoffSeconds(failures.inARow, 1, 30);
      this.#options.logger.error(
        { error: errorMessage(error), retryInSeconds: wait },
        `receive from the ${lane === 'live' ? 'inbound' : 'rescan'} queue failed`,
      );
      await sleep(wait * 1000, this.#stopController.signal);
      return;
    }
    // Fewer than asked for: uploads have nothing more waiting, and leave capacity to the backfill.
    if (lane === 'live') this.#liveIdle = messages.length < count;
    this.#accept(messages, lane);
  }

  /** Holds what a receive brought (or hands it straight back when the stop or an outage began) and starts what fits. */
  #accept(messages: Message[], lane: Lane): void {
    for (const message of messages) {
      // Never held, so no heartbeat to wait for; back once the receives under way are (see #returnAfter).
      if (this.#stopping || this.#outage)
        this.#track(
          message,
          this.#receivesUnderWay().then(() => this.#giveBack(message, lane, 0)),
        );
      else (lane === 'live' ? this.#waiting : this.#rescanWaiting).push(this.#hold(message, lane));
    }
    this.#dispatch();
  }

  #queueOf(lane: Lane): WorkerQueue {
    return lane === 'rescan' && this.#options.rescanQueue ? this.#options.rescanQueue : this.#options.queue;
  }

  #hold(message: Message, lane: Lane): Held {
    const held: Held = { message, lane, controller: new AbortController(), heartbeat: undefined, beat: undefined, state: 'waiting' };
    held.heartbeat = this.#startHeartbeat(held);
    this.#held.add(held);
    this.#options.onInFlight?.(this.#held.size);
    return held;
  }

  /** Live messages first; a rescan message starts only when no live message waits. */
  #dispatch(): void {
    while (!this.#stopping && !this.#outage && this.#scanning < this.#options.concurrency) {
      const next = this.#waiting.shift() ?? this.#rescanWaiting.shift();
      if (!next) break;
      this.#run(next);
    }
  }

  #run(held: Held): void {
    const { message, lane } = held;
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
      .handle(message, held.controller.signal, scanned, lane)
      .then(async (result) => {
        // Before the slot is freed: an outage must hand back the waiting messages, not start one.
        if (result.action === 'retry' && !this.#stopping && this.#options.outage?.isOutage(result.error)) this.#enterOutage();
        scanned();
        if (result.action === 'delete') {
          // Done: the delete may wait for its batch without counting against the bound.
          this.#forget(held);
          await this.#queueOf(lane)
            .remove(message.ReceiptHandle!)
            .catch((error: unknown) => {
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
        await this.#returnAfter(held, seconds);
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
    for (const held of [...this.#waiting.splice(0), ...this.#rescanWaiting.splice(0)]) {
      this.#track(
        held.message,
        this.#returnAfter(held, 0).finally(() => this.#forget(held)),
      );
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
  #startHeartbeat(held: Held): NodeJS.Timeout {
    const { visibilityTimeoutSeconds, logger } = this.#options;
    const { message } = held;
    const queue = this.#queueOf(held.lane);
    const everyMs = Math.max(1, Math.floor(visibilityTimeoutSeconds / 3)) * 1000;
    const timer = setInterval(() => {
      held.beat = queue.changeVisibility(message.ReceiptHandle!, visibilityTimeoutSeconds).catch((error: unknown) => {
        logger.warn({ messageId: message.MessageId, error: errorMessage(error) }, 'visibility heartbeat failed');
      });
    }, everyMs);
    timer.unref();
    return timer;
  }

  /**
   * Makes a held message visible again in `seconds`. At once (the stop, an
   * outage) only after the receives under way have come back; its heartbeat keeps
   * it hidden meanwhile. A message visible again before then is taken straight
   * back by one of them: by this worker's, which must return it again and has
   * spent one more of its receives before the dead-letter queue, or, had it been
   * cut short, by nobody's. No receive starts while stopping or in an outage, so
   * the wait ends. Then the heartbeat stops, and the return waits for its change
   * under way, which could otherwise land after it and hide the message again.
   */
  async #returnAfter(held: Held, seconds: number): Promise<void> {
    if (seconds === 0) await this.#receivesUnderWay();
    clearInterval(held.heartbeat);
    await held.beat;
    await this.#giveBack(held.message, held.lane, seconds);
  }

  /** Once the receives under way now have come back (they never reject). */
  async #receivesUnderWay(): Promise<void> {
    await Promise.all([...this.#receiving]);
  }

  async #giveBack(message: Message, lane: Lane, seconds: number): Promise<void> {
    try {
      await this.#queueOf(lane).changeVisibility(message.ReceiptHandle!, seconds);
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
    const stallMs = this.#options.receiveWaitSeconds * 1000 + RECEIVE_STALL_MS;
    const stalled = setTimeout(() => {
      logger.warn({ waitedMs: stallMs }, 'a receive outlived its long poll: aborting it');
      this.#receiveController.abort();
    }, stallMs);
    stalled.unref();
    void this.#receivesUnderWay().then(() => clearTimeout(stalled));
    const settled = this.#settled();
    await Promise.race([settled, new Promise((resolve) => deadline.signal.addEventListener('abort', resolve, { once: true }))]);
    clearTimeout(timer);
    if (deadline.signal.aborted) {
      logger.warn({ inFlight: this.#held.size }, 'shutdown timeout reached: aborting work in progress and returning it to the queue');
      for (const held of this.#held) held.controller.abort(new Error('worker is shutting down'));
    }
    return settled;
  }

  async #settled(): Promise<void> {
    await this.#loop;
    while (this.#settling.size > 0) await Promise.all([...this.#settling]);
  }
}
