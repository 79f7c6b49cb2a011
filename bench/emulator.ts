/**
 * The driver's side of the emulator process (bench/emulator-process.ts): starts
 * it, and turns its IPC protocol into promises.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { DEFAULT_RESOURCES, type LocalResources, type QueueRole } from '../src/local/emulator.ts';

export const BENCH_RESOURCES: LocalResources = DEFAULT_RESOURCES;

export type EmulatorRequest =
  | { id: number; cmd: 'idle' }
  | { id: number; cmd: 'snapshot'; name: string }
  | { id: number; cmd: 'requeue'; name: string; count?: number }
  | { id: number; cmd: 'depth'; queue: QueueRole }
  | { id: number; cmd: 'awaitDeleted'; count: number }
  | { id: number; cmd: 'expectForward'; key: string }
  | { id: number; cmd: 'emptyBucket'; bucket: string }
  | { id: number; cmd: 'usage' }
  | { id: number; cmd: 'stop' };

export type EmulatorMessage =
  | { type: 'ready'; endpoint: string; topicArn: string; queueUrls: Record<QueueRole, string> }
  | { type: 'reply'; id: number; ok: true; result: unknown }
  | { type: 'reply'; id: number; ok: false; error: string }
  | { type: 'forwarded'; key: string };

type Command = EmulatorRequest extends infer R ? (R extends EmulatorRequest ? Omit<R, 'id'> : never) : never;

export interface QueueDepth {
  ready: number;
  delayed: number;
  inflight: number;
}

export interface EmulatorHandle {
  pid: number;
  endpoint: string;
  topicArn: string;
  queueUrls: Record<QueueRole, string>;
  call(command: Command): Promise<unknown>;
  depth(queue: QueueRole): Promise<QueueDepth>;
  /**
   * Registers interest in the forward of `key`; once this resolves, `arrived`
   * resolves (with performance.now() at the news) when a message for that key
   * reaches the validation queue.
   */
  expectForward(key: string): Promise<{ arrived: Promise<number> }>;
  stop(): Promise<void>;
}

const CHILD = fileURLToPath(new URL('./emulator-process.ts', import.meta.url));

export async function startEmulatorProcess(): Promise<EmulatorHandle> {
  const child: ChildProcess = fork(CHILD, [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const pending = new Map<number, { resolve(value: unknown): void; reject(error: Error): void }>();
  const forwardWaiters = new Map<string, (at: number) => void>();
  let nextId = 1;
  let exited = false;

  const ready = new Promise<Extract<EmulatorMessage, { type: 'ready' }>>((resolveReady, rejectReady) => {
    child.on('message', (message: EmulatorMessage) => {
      if (message.type === 'ready') resolveReady(message);
      else if (message.type === 'forwarded') {
        const at = performance.now();
        forwardWaiters.get(message.key)?.(at);
        forwardWaiters.delete(message.key);
      } else {
        const waiter = pending.get(message.id);
        pending.delete(message.id);
        if (message.ok) waiter?.resolve(message.result);
        else waiter?.reject(new Error(`emulator: ${message.error}`));
      }
    });
    child.once('exit', (code, signal) => {
      exited = true;
      const error = new Error(`the emulator process exited (code ${code}, signal ${signal})`);
      rejectReady(error);
      for (const waiter of pending.values()) waiter.reject(error);
      pending.clear();
    });
  });
  const started = await ready;

  const call = (command: Command): Promise<unknown> => {
    if (exited) return Promise.reject(new Error('the emulator process has exited'));
    const id = nextId++;
    return new Promise((resolveCall, rejectCall) => {
      pending.set(id, { resolve: resolveCall, reject: rejectCall });
      child.send({ ...command, id });
    });
  };

  return {
    pid: child.pid ?? -1,
    endpoint: started.endpoint,
    topicArn: started.topicArn,
    queueUrls: started.queueUrls,
    call,
    depth: (queue) => call({ cmd: 'depth', queue }) as Promise<QueueDepth>,
    async expectForward(key) {
      const arrived = new Promise<number>((resolveArrival) => forwardWaiters.set(key, resolveArrival));
      await call({ cmd: 'expectForward', key });
      return { arrived };
    },
    async stop() {
      if (exited) return;
      const gone = new Promise<void>((resolveExit) => child.once('exit', () => resolveExit()));
      await call({ cmd: 'stop' }).catch(() => undefined);
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await gone;
      clearTimeout(timer);
    },
  };
}
