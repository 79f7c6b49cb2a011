/** The metrics section: which metrics output, its namespace, and the port of /healthz, /readyz and /metrics. */
import * as z from '../shared/zod.ts';
import { choice, integer, text, type Parsed } from './variables.ts';
import { DEFAULTS } from './defaults.ts';

export interface MetricsSettings {
  /** METRICS: Prometheus text on /metrics (needs HEALTH_PORT), CloudWatch EMF lines on stdout, or none. */
  mode: 'prometheus' | 'emf' | 'off';
  /** METRICS_NAMESPACE: the CloudWatch namespace of EMF metrics. */
  namespace: string;
  /** TCP port of the /healthz and /readyz endpoints (and /metrics); undefined: none. */
  healthPort: number | undefined;
}

export const HEALTH_VARIABLES = { HEALTH_PORT: integer(0, 0, 65535, 'port') };

export const METRICS_VARIABLES = {
  METRICS: choice(['prometheus', 'emf', 'off'], DEFAULTS.metrics, 'must be prometheus, emf or off'),
  METRICS_NAMESPACE: z.optional(
    text.check(z.regex(/^[A-Za-z0-9 ._\-/#:]{1,255}$/, 'must be a CloudWatch namespace (1-255 letters, digits, spaces and . _ - / # :)')),
  ),
};

export function metricsSettings(v: Parsed<typeof METRICS_VARIABLES & typeof HEALTH_VARIABLES>): MetricsSettings {
  return {
    mode: v.METRICS,
    namespace: v.METRICS_NAMESPACE ?? DEFAULTS.metricsNamespace,
    healthPort: v.HEALTH_PORT === 0 ? undefined : v.HEALTH_PORT,
  };
}
