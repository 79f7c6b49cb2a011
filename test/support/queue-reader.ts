/**
 * A queue read the way the fidelity tests read their outputs (validation queues,
 * report inboxes, result queues): every message received is deleted and kept in a
 * record, so a message meant for another test stays findable there.
 */
import { DeleteMessageCommand, ReceiveMessageCommand, type Message, type SQSClient } from '@aws-sdk/client-sqs';

export interface QueueReader {
  /** Waits (with `until`) for a message that matches, sweeping the queue meanwhile. */
  message(what: string, predicate: (message: Message) => boolean): Promise<Message>;
  /** Everything received so far, after one more sweep. */
  received(): Promise<Message[]>;
}

export function queueReader(
  sqs: () => SQSClient,
  url: () => string,
  until: <T>(what: string, probe: () => Promise<T | undefined>) => Promise<T>,
): QueueReader {
  const seen: Message[] = [];
  const sweep = async (waitSeconds: number) => {
    const response = await sqs().send(
      new ReceiveMessageCommand({ QueueUrl: url(), MaxNumberOfMessages: 10, WaitTimeSeconds: waitSeconds, MessageAttributeNames: ['All'] }),
    );
    for (const message of response.Messages ?? []) {
      seen.push(message);
      await sqs().send(new DeleteMessageCommand({ QueueUrl: url(), ReceiptHandle: message.ReceiptHandle }));
    }
  };
  return {
    message(what, predicate) {
      return until(what, async () => {
        await sweep(1);
        return seen.find(predicate);
      });
    },
    async received() {
      await sweep(0);
      return [...seen];
    },
  };
}
