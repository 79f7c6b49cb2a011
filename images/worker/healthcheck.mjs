// The worker image's health check (HEALTHCHECK, or an ECS task definition's
// healthCheck: ["CMD", "node", "healthcheck.mjs"]): GET /healthz on HEALTH_PORT.
// Liveness only: a worker waiting out a clamd outage is alive (its /readyz says
// 503 meanwhile) and must not be restarted for it. Node's fetch, so the image
// needs no curl or shell.
const port = process.env.HEALTH_PORT;
if (!port || port === '0') {
  console.error('HEALTH_PORT is off: the worker serves no /healthz to check');
  process.exit(1);
}
try {
  const response = await fetch(`http://127.0.0.1:${port}/healthz`, { signal: AbortSignal.timeout(4000) });
  if (!response.ok) console.error(`/healthz answered ${response.status}`);
  process.exit(response.ok ? 0 : 1);
} catch (error) {
  console.error(`/healthz: ${error instanceof Error ? error.message : String(error)}`);
  process.exit(1);
}
