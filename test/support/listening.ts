import { readFileSync } from 'node:fs';

/**
 * The local addresses of the listening TCP sockets on `port`, as the kernel
 * reports them (/proc/net/tcp and tcp6), e.g. ["127.0.0.1"] or ["0.0.0.0"].
 */
export function listeningAddresses(port: number): string[] {
  const found: string[] = [];
  for (const file of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const [, local, , state] = line.trim().split(/\s+/);
      // 0A is TCP_LISTEN.
      if (!local || state !== '0A') continue;
      const [hex, portHex] = local.split(':');
      if (!hex || Number.parseInt(portHex ?? '', 16) !== port) continue;
      found.push(hex.length === 8 ? ipv4(hex) : `ipv6:${hex}`);
    }
  }
  return found;
}

/** /proc writes IPv4 addresses as one little-endian 32-bit word. */
function ipv4(hex: string): string {
  const bytes = hex
    .match(/../g)!
    .map((pair) => Number.parseInt(pair, 16))
    .reverse();
  return bytes.join('.');
}
