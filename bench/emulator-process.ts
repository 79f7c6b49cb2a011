/**
 * The S3/SQS/SNS emulator in a process of its own, so that it does not share an
 * event loop (or a CPU) with the worker or with the benchmark driver. Started by
 * bench/emulator.ts with an IPC channel; it answers the driver's requests:
 *
 *   idle                      every upload seen so far has its event on the inbound queue
 *   snapshot {name}           remember the bodies of the messages ready on the inbound queue
 *   requeue {name, count?}    send (the first `count` of) those bodies to the inbound queue again
 *   depth {queue}             ready / delayed / in-flight counts of one queue
 *   awaitDeleted {count}      resolve once `count` messages have been deleted from the inbound queue
 *   expectForward {key}       report {type: 'forwarded', key} when a message for that key reaches
 *                             the validation queue
 *   emptyBucket {bucket}      remove every object
 *   usage                     this process's CPU time and memory
 *   stop                      stop the emulator and exit
 *
 * The deletes and forwards are observed through the emulator's message spy, in the
 * request handler that makes them, so they cost no extra request.
 */
import type { SpyMessage } from 'fauxqs';
import { createLogger } from '../src/log/logger.ts';
import { startEmulator, type QueueRole } from '../src/local/emulator.ts';
import { BENCH_RESOURCES, type EmulatorMessage, type EmulatorRequest } from './emulator.ts';

const queueNames: Record<QueueRole, string> = {
  inbound: BENCH_RESOURCES.inboundQueueName,
  deadLetter: BENCH_RESOURCES.deadLetterQueueName,
  validation: BENCH_RESOURCES.validationQueueName,
  notification: BENCH_RESOURCES.notificationQueueName,
};

function send(message: EmulatorMessage): void {
  process.send?.(message);
}

/** The (decoded) object key of the first record of an S3 event document, if it is one. */
function eventKey(body: string): string | undefined {
  try {
    const key = (JSON.parse(body) as { Records?: Array<{ s3?: { object?: { key?: string } } }> }).Records?.[0]?.s3?.object?.key;
    return key === undefined ? undefined : decodeURIComponent(key.replace(/\+/g, ' '));
  } catch {
    return undefined;
  }
}

async function main(): Promise<void> {
  if (!process.send) throw new Error('bench/emulator-process.ts must be started with an IPC channel (bench/emulator.ts)');
  const emulator = await startEmulator({
    port: Number(process.env['BENCH_EMULATOR_PORT'] ?? 0),
    resources: BENCH_RESOURCES,
    logger: createLogger('warn', 'emulator', process.stderr),
  });
  const { server } = emulator;
  const snapshots = new Map<string, string[]>();
  const deleteWaiters = new Set<{ remaining: number; done: () => void }>();
  const expectedForwards = new Set<string>();

  const observe = (message: SpyMessage): boolean => {
    if (message.service !== 'sqs') return false;
    if (message.status === 'consumed' && message.queueName === queueNames.inbound) {
      for (const waiter of deleteWaiters) {
        waiter.remaining -= 1;
        if (waiter.remaining <= 0) {
          deleteWaiters.delete(waiter);
          waiter.done();
        }
      }
    } else if (message.status === 'published' && message.queueName === queueNames.validation && expectedForwards.size > 0) {
      const key = eventKey(message.body);
      if (key !== undefined && expectedForwards.delete(key)) send({ type: 'forwarded', key });
    }
    // Never "match": the listener stays registered for every later event.
    return false;
  };
  // Registered before any traffic, so the spy's replay of its buffer is empty.
  void server.spy.waitForMessage(observe).catch(() => undefined);

  const handle = async (request: EmulatorRequest): Promise<unknown> => {
    switch (request.cmd) {
      case 'idle':
        await emulator.bridge.idle();
        return null;
      case 'snapshot': {
        const inspected = server.inspectQueue(queueNames.inbound);
        const bodies = (inspected?.messages.ready ?? []).map((message) => message.body);
        snapshots.set(request.name, bodies);
        return bodies.length;
      }
      case 'requeue': {
        const bodies = snapshots.get(request.name);
        if (!bodies) throw new Error(`no snapshot named ${request.name}`);
        const chosen = bodies.slice(0, request.count ?? bodies.length);
        for (const body of chosen) server.sendMessage(queueNames.inbound, body);
        return chosen.length;
      }
      case 'depth': {
        const inspected = server.inspectQueue(queueNames[request.queue]);
        if (!inspected) throw new Error(`no queue ${request.queue}`);
        const { ready, delayed, inflight } = inspected.messages;
        return { ready: ready.length, delayed: delayed.length, inflight: inflight.length };
      }
      case 'awaitDeleted':
        await new Promise<void>((done) => deleteWaiters.add({ remaining: request.count, done }));
        return null;
      case 'expectForward':
        expectedForwards.add(request.key);
        return null;
      case 'emptyBucket':
        server.emptyBucket(request.bucket);
        return null;
      case 'usage':
        return { cpu: process.cpuUsage(), memory: process.memoryUsage() };
      case 'stop':
        await emulator.stop();
        setImmediate(() => process.exit(0));
        return null;
    }
  };

  process.on('message', (request: EmulatorRequest) => {
    handle(request).then(
      (result) => send({ type: 'reply', id: request.id, ok: true, result }),
      (error: unknown) => send({ type: 'reply', id: request.id, ok: false, error: (error as Error)?.message ?? String(error) }),
    );
  });
  // The driver going away (even by SIGKILL) closes the channel: do not outlive it.
  process.on('disconnect', () => {
    void emulator.stop().finally(() => process.exit(0));
  });
  send({ type: 'ready', endpoint: emulator.endpoint, topicArn: emulator.topicArn, queueUrls: emulator.queueUrls });
}

main().catch((error: unknown) => {
  process.stderr.write(`bench emulator: ${(error as Error)?.stack ?? String(error)}\n`);
  process.exit(1);
});
