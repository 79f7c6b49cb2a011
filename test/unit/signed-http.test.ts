// The lean path's SigV4 (src/aws/signed-http.ts) against the SDK's own signer:
// for the same request, time and credentials, the same Authorization header.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, createHmac, type Hash, type Hmac } from 'node:crypto';
import { SignatureV4 } from '@smithy/signature-v4';
import { canonicalQuery, escapeUri, Signer, sha256Hex } from '../../src/aws/signed-http.ts';

const bytes = (data: string | ArrayBuffer | ArrayBufferView) =>
  typeof data === 'string'
    ? data
    : data instanceof ArrayBuffer
      ? Buffer.from(data)
      : Buffer.from(data.buffer, data.byteOffset, data.byteLength);

/** The hash constructor the SDK's signer takes (as @smithy/hash-node makes it). */
class Sha256 {
  readonly #hash: Hash | Hmac;
  constructor(secret?: string | ArrayBuffer | ArrayBufferView) {
    this.#hash = secret === undefined ? createHash('sha256') : createHmac('sha256', bytes(secret));
  }
  update(data: string | ArrayBuffer | ArrayBufferView): void {
    this.#hash.update(bytes(data));
  }
  async digest(): Promise<Uint8Array> {
    return this.#hash.digest();
  }
}

const NOW = new Date('2026-03-04T05:06:07.890Z');

async function both(
  request: { service: string; method: string; path: string; query: Record<string, string>; headers: Record<string, string>; body?: string },
  credentials: { accessKeyId: string; secretAccessKey: string; sessionToken?: string },
) {
  const payloadHash = sha256Hex(request.body ?? '');
  const ours: Record<string, string> = { ...request.headers };
  new Signer('eu-west-1', request.service).sign(
    { method: request.method, path: request.path, query: canonicalQuery(request.query), headers: ours, payloadHash },
    credentials,
    NOW,
  );
  const sdk = await new SignatureV4({
    credentials,
    region: 'eu-west-1',
    service: request.service,
    sha256: Sha256,
    uriEscapePath: request.service !== 's3',
    applyChecksum: false,
  }).sign(
    {
      method: request.method,
      protocol: 'https:',
      hostname: request.headers['host']!,
      path: request.path,
      query: request.query,
      headers: { ...request.headers },
      ...(request.body === undefined ? {} : { body: request.body }),
    },
    { signingDate: NOW },
  );
  return { ours, sdk: sdk.headers as Record<string, string> };
}

test('an S3 GET of a version with an escaped key signs as the SDK does', async () => {
  const path = `/bucket/${'guid/a file+with (odd) chars!*.txt'.split('/').map(escapeUri).join('/')}`;
  const { ours, sdk } = await both(
    {
      service: 's3',
      method: 'GET',
      path,
      query: { versionId: 'v1+/=x' },
      headers: { host: 's3.eu-west-1.amazonaws.com', 'x-amz-checksum-mode': 'ENABLED', 'x-amz-content-sha256': sha256Hex('') },
    },
    { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'secret' },
  );
  assert.equal(ours['authorization'], sdk['authorization']);
  assert.equal(ours['x-amz-date'], sdk['x-amz-date']);
});

test('an S3 PUT with a body, an empty query value and a session token signs as the SDK does', async () => {
  const body = '<Tagging><TagSet></TagSet></Tagging>';
  const { ours, sdk } = await both(
    {
      service: 's3',
      method: 'PUT',
      path: '/bucket/key',
      query: { tagging: '', versionId: 'abc' },
      headers: {
        host: '127.0.0.1:4566',
        'content-type': 'application/xml',
        'content-length': String(body.length),
        'x-amz-content-sha256': sha256Hex(body),
      },
      body,
    },
    { accessKeyId: 'ASIAEXAMPLE', secretAccessKey: 'secret2', sessionToken: 'token  with   spaces' },
  );
  assert.equal(ours['x-amz-security-token'], sdk['x-amz-security-token']);
  assert.equal(ours['authorization'], sdk['authorization']);
});

test('an SQS JSON call signs as the SDK does', async () => {
  const body = JSON.stringify({ QueueUrl: 'https://sqs.eu-west-1.amazonaws.com/1/q', MaxNumberOfMessages: 10 });
  const { ours, sdk } = await both(
    {
      service: 'sqs',
      method: 'POST',
      path: '/',
      query: {},
      headers: {
        host: 'sqs.eu-west-1.amazonaws.com',
        'content-type': 'application/x-amz-json-1.0',
        'x-amz-target': 'AmazonSQS.ReceiveMessage',
        'x-amzn-query-mode': 'true',
        'content-length': String(Buffer.byteLength(body)),
      },
      body,
    },
    { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'secret' },
  );
  assert.equal(ours['authorization'], sdk['authorization']);
});

test('the signing key follows the secret and the day', async () => {
  const signer = new Signer('eu-west-1', 'sqs');
  const sign = (secret: string, now: Date) => {
    const headers: Record<string, string> = { host: 'h' };
    signer.sign(
      { method: 'POST', path: '/', query: '', headers, payloadHash: sha256Hex('') },
      { accessKeyId: 'a', secretAccessKey: secret },
      now,
    );
    return headers['authorization'];
  };
  const first = sign('one', NOW);
  assert.notEqual(sign('two', NOW), first, 'a rotated secret signs differently');
  assert.equal(sign('one', NOW), first);
  const nextDay = new Date(NOW.getTime() + 86_400_000);
  const fresh = new Signer('eu-west-1', 'sqs');
  const headers: Record<string, string> = { host: 'h' };
  fresh.sign(
    { method: 'POST', path: '/', query: '', headers, payloadHash: sha256Hex('') },
    { accessKeyId: 'a', secretAccessKey: 'one' },
    nextDay,
  );
  assert.equal(sign('one', nextDay), headers['authorization'], 'the next day derives a new key');
});
