/**
 * A body that can lend its bytes instead of handing over copies: `lend()` yields
 * views of buffers its source reads into again once each view has come back
 * through `release`. Made by src/aws/http1.ts (through src/aws/s3-direct.ts's
 * GetObject body), taken by src/scan/clamd-client.ts, which releases a view once
 * clamd's socket has written it. Anything else reads the body as copies, by
 * iterating it.
 */
export interface LendingBody extends AsyncIterable<Uint8Array> {
  lend(): AsyncIterable<Uint8Array>;
  release(view: Uint8Array): void;
}

export function isLendingBody(source: unknown): source is LendingBody {
  const body = source as Partial<LendingBody> | null;
  return typeof body?.lend === 'function' && typeof body.release === 'function';
}

/** An object's body as it is opened: read once (as copies or lent), or destroyed unread. */
export interface Body extends AsyncIterable<Uint8Array> {
  destroy(error?: Error): unknown;
}
