import { setTimeout as delay } from 'node:timers/promises';
import type { SQSClient } from '@aws-sdk/client-sqs';
import type { Logger } from '../log/logger.ts';
import { changeVisibility, deleteMessage, receiveMessages, type Message } from '../aws/queue.ts';
import type { MessageResult } from '../pipeline/process-message.ts';
import { backoffSeconds } from './backoff.ts';
import { Slots } from './slots.ts';

export interface WorkerOptions {
  sqs: SQSClient;
  queueUrl: string;
  concurrency: number;
  visibilityTimeoutSeconds: number;
  receiveWaitSeconds: number;
  shutdownTimeoutMs: number;
  retryDelaySeconds: number;
  /** Deletes a finished message (batched by the caller); defaults to one DeleteMessage each. */
  remove?(receiptHandle: string): Promise<void>;
  /** Must not throw: every failure is a result. */
  handle(message: Message, signal: AbortSignal): Promise<MessageResult>;
  logger: Logger;
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
}

interface InFlight {
  message: Message;
  controller: AbortController;
}

const receiveCount = (message: Message) => Number(message.Attributes?.ApproximateReceiveCount ?? '1') || 1;

/**
 * Polls the inbound queue and keeps up to `concurrency` messages in work. A slot
 * freed by a finished message is refilled at once, so one slow file never holds
 * the others back.
 */
export class Worker {
  readonly #options: WorkerOptions;
  readonly #slots: Slots;
  readonly #inFlight = new Set<InFlight>();
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
  readonly #deletions = new Set<Promise<void>>();

  constructor(options: WorkerOptions) {
    this.#options = options;
    this.#slots = new Slots(options.concurrency);
  }

  get inFlight(): number {
    return this.#inFlight.size;
  }

  /** Taking messages: started, not stopping, and no dependency down. */
  get ready(): boolean {
    return this.#loop !== undefined && !this.#stopping && this.#outage === undefined;
  }

  /** Starts polling; the promise settles when the poll loop has ended. */
  start(): Promise<void> {
    this.#loop ??= this.#poll();
    return this.#loop;
  }

  async #poll(): Promise<void> {
    const { logger } = this.#options;
    let failures = 0;
    while (!this.#stopping) {
      await this.#slots.waitForFree();
      if (this.#outage) await this.#outage;
      if (this.#stopping) break;
      let messages: Message[];
      try {
        messages = await receiveMessages(this.#options.sqs, this.#options.queueUrl, {
          max: this.#slots.free,
          waitSeconds: this.#options.receiveWaitSeconds,
          visibilityTimeoutSeconds: this.#options.visibilityTimeoutSeconds,
          signal: this.#receiveController.signal,
        });
        failures = 0;
      } catch (error) {
        if (this.#stopping) break;
        failures += 1;
        const wait = backoffSeconds(failures, 1, 30);
        logger.error({ error: (error as Error).message, retryInSeconds: wait }, 'receive from the inbound queue failed');
        await delay(wait * 1000, undefined, { signal: this.#stopController.signal }).catch(() => undefined);
        continue;
      }
      for (const message of messages) {
        if (this.#stopping) {
          // Received as the stop began: hand it straight back rather than sit on it.
          void this.#release(message, 0);
        } else {
          this.#run(message);
        }
      }
    }
  }

  #run(message: Message): void {
    const entry: InFlight = { message, controller: new AbortController() };
    this.#inFlight.add(entry);
    this.#slots.acquire();
    const heartbeat = this.#startHeartbeat(message);
    void this.#options
      .handle(message, entry.controller.signal)
      .then(async (result) => {
        clearInterval(heartbeat);
        if (result.action === 'delete') {
          // The work is done: the delete may wait for its batch without holding a
          // slot (a slot waiting out a batch linger is a slot not scanning).
          const { remove, sqs, queueUrl } = this.#options;
          this.#settleLater(message, remove ? remove(message.ReceiptHandle!) : deleteMessage(sqs, queueUrl, message.ReceiptHandle!));
        } else {
          if (!this.#stopping && this.#options.outage?.isOutage(result.error)) this.#enterOutage();
          // Stopping: give it to another worker now. Otherwise wait a little longer
          // each time, so a short outage does not use up the redrive budget at once.
          const seconds = this.#stopping
            ? 0
            : backoffSeconds(receiveCount(message), this.#options.retryDelaySeconds, this.#options.visibilityTimeoutSeconds);
          await this.#release(message, seconds);
        }
      })
      .catch((error: unknown) => {
        this.#options.logger.error(
          { messageId: message.MessageId, error: (error as Error).message },
          'could not settle the message; it returns when its visibility timeout ends',
        );
      })
      .finally(() => {
        clearInterval(heartbeat);
        this.#inFlight.delete(entry);
        this.#slots.release();
      });
  }

  #settleLater(message: Message, deletion: Promise<void>): void {
    const tracked = deletion
      .catch((error: unknown) => {
        this.#options.logger.error(
          { messageId: message.MessageId, error: (error as Error).message },
          'could not delete the finished message; it will be delivered again and its steps redone',
        );
      })
      .finally(() => this.#deletions.delete(tracked));
    this.#deletions.add(tracked);
  }

  #enterOutage(): void {
    if (this.#outage || !this.#options.outage) return;
    const { logger } = this.#options;
    logger.warn('clamd is unavailable: not taking new messages until it answers again');
    const recovered = this.#options.outage.recovered(this.#stopController.signal);
    this.#outage = recovered
      .then((ok) => {
        if (ok) logger.info('clamd answers again: taking messages');
      })
      .catch((error: unknown) => {
        logger.error({ error: (error as Error).message }, 'waiting for clamd failed; taking messages again');
      })
      .finally(() => {
        this.#outage = undefined;
      });
  }

  /** Keeps a message hidden while it is in work, so a long scan is not handed to another worker. */
  #startHeartbeat(message: Message): NodeJS.Timeout {
    const { visibilityTimeoutSeconds, sqs, queueUrl, logger } = this.#options;
    const everyMs = Math.max(1, Math.floor(visibilityTimeoutSeconds / 3)) * 1000;
    const timer = setInterval(() => {
      changeVisibility(sqs, queueUrl, message.ReceiptHandle!, visibilityTimeoutSeconds).catch((error: unknown) => {
        logger.warn({ messageId: message.MessageId, error: (error as Error).message }, 'visibility heartbeat failed');
      });
    }, everyMs);
    timer.unref();
    return timer;
  }

  async #release(message: Message, seconds: number): Promise<void> {
    try {
      await changeVisibility(this.#options.sqs, this.#options.queueUrl, message.ReceiptHandle!, seconds);
    } catch (error) {
      this.#options.logger.warn(
        { messageId: message.MessageId, error: (error as Error).message },
        'could not return the message early; it returns when its visibility timeout ends',
      );
    }
  }

  /**
   * Stops receiving, lets work in progress finish within the shutdown timeout,
   * then aborts what is left and returns those messages to the queue.
   */
  async stop(): Promise<void> {
    if (this.#stopping) return this.#settled();
    this.#stopping = true;
    this.#stopController.abort();
    const { logger, shutdownTimeoutMs } = this.#options;
    logger.info({ inFlight: this.#inFlight.size, shutdownTimeoutMs }, 'stopping: no new messages; finishing work in progress');
    const deadline = new AbortController();
    const timer = setTimeout(() => deadline.abort(), shutdownTimeoutMs);
    timer.unref();
    const settled = this.#settled();
    await Promise.race([settled, new Promise((resolve) => deadline.signal.addEventListener('abort', resolve, { once: true }))]);
    clearTimeout(timer);
    if (deadline.signal.aborted) {
      logger.warn({ inFlight: this.#inFlight.size }, 'shutdown timeout reached: aborting work in progress and returning it to the queue');
      this.#receiveController.abort();
      for (const entry of this.#inFlight) entry.controller.abort(new Error('worker is shutting down'));
    }
    return settled;
  }

  async #settled(): Promise<void> {
    await this.#loop;
    await this.#slots.waitForIdle();
    await Promise.all([...this.#deletions]);
  }
}
