/**
 * A look at the messages of a queue that leaves them where they are. SQS has no
 * peek: a message can only be seen by receiving it, which hides it and counts as
 * a receive. So the messages are received with a short visibility timeout, each
 * kept once (by MessageId: one whose timeout ran out during a long listing can
 * come again), and all made visible again at the end with
 * ChangeMessageVisibilityBatch(0), also when the listing is interrupted or fails.
 * VisibilityTimeout=0 on the receive itself would make them visible at once, but
 * then the next receive could return the same messages and never reach the others.
 */
import type { Message, SQSClient } from '@aws-sdk/client-sqs';
import { receiveForInspection, releaseMessages, type EntryFailure } from '../aws/dead-letter.ts';

export interface PeekOptions {
  sqs: SQSClient;
  url: string;
  /** At most this many messages. */
  max: number;
  /** How long the listed messages stay hidden if the release at the end never happens (a crash). */
  visibilitySeconds?: number;
  /** Long polling: a short poll may miss messages on some SQS servers. */
  waitSeconds?: number;
  signal?: AbortSignal;
}

export type PeekEnd = 'max' | 'empty' | 'repeat' | 'interrupted' | 'receives';

export interface Peek {
  /** In the order first received, as first received (their attributes then). */
  messages: Message[];
  end: PeekEnd;
  /** Messages whose release SQS refused (a receipt handle that had expired): visible again anyway or soon. */
  releaseFailures: EntryFailure[];
  /** Set when a receive failed: the messages collected before it were still released. */
  error?: unknown;
}

export async function peekMessages(options: PeekOptions): Promise<Peek> {
  const collected = new Map<string, { message: Message; receiptHandle: string }>();
  // A receive that returns nothing new ends the listing long before this; the
  // bound only guards against a queue that keeps returning fresh messages.
  const maxReceives = Math.ceil(options.max / 10) * 3 + 5;
  let end: PeekEnd = 'receives';
  let error: unknown;
  try {
    for (let receive = 0; receive < maxReceives; receive++) {
      if (options.signal?.aborted) {
        end = 'interrupted';
        break;
      }
      const messages = await receiveForInspection(options.sqs, options.url, {
        max: options.max - collected.size,
        visibilitySeconds: options.visibilitySeconds ?? 30,
        waitSeconds: options.waitSeconds ?? 1,
        ...(options.signal ? { signal: options.signal } : {}),
      });
      if (messages.length === 0) {
        end = 'empty';
        break;
      }
      let fresh = 0;
      for (const message of messages) {
        const id = message.MessageId ?? '';
        const known = collected.get(id);
        // The newest receipt handle is the one SQS honours.
        if (known) known.receiptHandle = message.ReceiptHandle ?? known.receiptHandle;
        else {
          collected.set(id, { message, receiptHandle: message.ReceiptHandle ?? '' });
          fresh += 1;
        }
      }
      if (collected.size >= options.max) {
        end = 'max';
        break;
      }
      if (fresh === 0) {
        end = 'repeat';
        break;
      }
    }
  } catch (caught) {
    if (options.signal?.aborted) end = 'interrupted';
    else error = caught;
  }
  const handles = [...collected.values()].map((entry) => entry.receiptHandle).filter(Boolean);
  const releaseFailures = await releaseMessages(options.sqs, options.url, handles);
  return {
    messages: [...collected.values()].map((entry) => entry.message),
    end,
    releaseFailures,
    ...(error !== undefined ? { error } : {}),
  };
}
