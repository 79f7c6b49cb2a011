import { createServer, type Server } from 'node:http';
import type { Logger } from '../log/logger.ts';

export interface HealthState {
  /** Taking messages: clamd answered, the queues resolved, not shutting down. */
  ready: boolean;
  detail: Record<string, unknown>;
}

/**
 * /healthz answers while the process is responsive (liveness: restart me if not);
 * /readyz answers 200 only while the worker takes messages (readiness: clamd up,
 * not draining), so an orchestrator can tell "alive but waiting for clamd".
 */
export async function startHealthServer(
  port: number,
  state: () => HealthState,
  logger: Logger,
  /** GET /metrics (Prometheus text); absent: 404. */
  metrics?: () => Promise<{ contentType: string; body: string }>,
): Promise<Server> {
  const server = createServer((request, response) => {
    const path = (request.url ?? '/').split('?')[0];
    if (request.method !== 'GET' && request.method !== 'HEAD') {
      response.writeHead(405, { allow: 'GET, HEAD' }).end();
      return;
    }
    const send = (status: number, body: unknown) => {
      response.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store' });
      response.end(request.method === 'HEAD' ? undefined : `${JSON.stringify(body)}\n`);
    };
    if (path === '/metrics' && metrics) {
      metrics().then(
        ({ contentType, body }) => {
          response.writeHead(200, { 'content-type': contentType, 'cache-control': 'no-store' });
          response.end(request.method === 'HEAD' ? undefined : body);
        },
        () => send(500, { status: 'metrics-failed' }),
      );
    } else if (path === '/healthz') send(200, { status: 'alive' });
    else if (path === '/readyz') {
      const current = state();
      send(current.ready ? 200 : 503, { status: current.ready ? 'ready' : 'not-ready', ...current.detail });
    } else send(404, { status: 'not-found' });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, () => {
      server.off('error', reject);
      resolve();
    });
  });
  logger.info(
    { port, metrics: metrics !== undefined },
    `health endpoints listening on /healthz and /readyz${metrics ? ' and /metrics' : ''}`,
  );
  return server;
}
