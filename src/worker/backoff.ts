/** Exponential backoff: base, 2·base, 4·base… capped. attempt starts at 1. */
export function backoffSeconds(attempt: number, baseSeconds: number, capSeconds: number): number {
  const exponent = Math.min(Math.max(attempt - 1, 0), 20);
  return Math.min(capSeconds, baseSeconds * 2 ** exponent);
}
