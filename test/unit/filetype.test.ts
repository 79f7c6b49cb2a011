// File types from the first bytes (src/filetype/detect.ts): the file-type package
// on the head of a stream only, the stream handed on whole, and a name that claims
// one type for bytes of another.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { claimedExtension, DEFAULT_SAMPLE_BYTES, detectType, isDetectable, sampleHead, typeMismatch } from '../../src/filetype/detect.ts';
import { pdfHead, peExecutable, png } from '../support/samples.ts';

const MiB = 1024 * 1024;

test('types from magic numbers; plain text is no known type', async () => {
  assert.deepEqual(await detectType(peExecutable()), { ext: 'exe', mime: 'application/x-msdownload' });
  assert.deepEqual(await detectType(pdfHead()), { ext: 'pdf', mime: 'application/pdf' });
  assert.deepEqual(await detectType(png()), { ext: 'png', mime: 'image/png' });
  assert.equal(await detectType(Buffer.from('date,amount\n2026-06-01,12.50\n')), undefined);
  assert.equal(await detectType(Buffer.alloc(0)), undefined);
});

test('the name never counts: only a name that claims a known type for bytes of another is a mismatch', async () => {
  const exe = await detectType(peExecutable());
  assert.deepEqual(typeMismatch('invoice.pdf', exe), { claimed: 'pdf', detected: exe });
  assert.deepEqual(typeMismatch('folder/Photo.PNG', exe), { claimed: 'png', detected: exe });
  assert.equal(typeMismatch('setup.exe', exe), undefined);
  assert.equal(typeMismatch('driver.dll', exe), undefined, 'a DLL is a PE executable too');
  // A name no detector can check, or no extension, is no evidence either way.
  assert.equal(typeMismatch('notes.txt', exe), undefined);
  assert.equal(typeMismatch('README', exe), undefined);
  assert.equal(typeMismatch('invoice.pdf', undefined), undefined);
  // One format under several names, and containers told apart only when their part is in the sample.
  assert.equal(typeMismatch('photo.jpeg', { ext: 'jpg', mime: 'image/jpeg' }), undefined);
  assert.equal(typeMismatch('report.docx', { ext: 'zip', mime: 'application/zip' }), undefined);
  assert.equal(
    typeMismatch('archive.zip', { ext: 'xlsx', mime: 'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet' }),
    undefined,
  );
  assert.equal(typeMismatch('old.doc', { ext: 'cfb', mime: 'application/x-cfb' }), undefined);
  assert.deepEqual(typeMismatch('report.docx', exe)?.claimed, 'docx');
  assert.equal(claimedExtension('archive.tar.gz'), 'gz');
  assert.equal(claimedExtension('.bashrc'), undefined);
  assert.equal(claimedExtension('trailing.'), undefined);
  assert.ok(isDetectable('pdf') && isDetectable('doc') && !isDetectable('txt'));
});

/** A source of `total` bytes in 64 KiB chunks (one buffer reused, nothing allocated per chunk) that counts what was read. */
function countingSource(total: number, head: Buffer = Buffer.alloc(0)) {
  const chunk = Buffer.alloc(64 * 1024);
  const state = { pulled: 0, closed: false };
  async function* generate(): AsyncGenerator<Uint8Array> {
    try {
      let sent = 0;
      if (head.length > 0) {
        state.pulled += head.length;
        sent += head.length;
        yield head;
      }
      while (sent < total) {
        const piece = chunk.subarray(0, Math.min(chunk.length, total - sent));
        sent += piece.length;
        state.pulled += piece.length;
        yield piece;
      }
    } finally {
      state.closed = true;
    }
  }
  return { source: generate(), state };
}

test('only the head is read to detect; the body replays every byte in order', async () => {
  const content = Buffer.concat([peExecutable(), Buffer.from('x'.repeat(200_000))]);
  let pulled = 0;
  const chunks = async function* () {
    for (let offset = 0; offset < content.length; offset += 1000) {
      pulled += Math.min(1000, content.length - offset);
      yield content.subarray(offset, offset + 1000);
    }
  };
  const sampled = await sampleHead(chunks(), DEFAULT_SAMPLE_BYTES);
  assert.equal(pulled, 5000, 'the sample and the chunk that crossed it, no more');
  assert.equal(sampled.head.length, DEFAULT_SAMPLE_BYTES);
  assert.equal(sampled.complete, false);
  assert.equal((await detectType(sampled.head))?.ext, 'exe');
  const replayed: Buffer[] = [];
  for await (const piece of sampled.body) replayed.push(Buffer.from(piece));
  assert.ok(Buffer.concat(replayed).equals(content));

  const small = await sampleHead(
    (async function* () {
      yield Buffer.from('tiny');
    })(),
  );
  assert.equal(small.complete, true);
  assert.equal(small.head.toString(), 'tiny');
});

test('a reader that stops early closes the source', async () => {
  const { source, state } = countingSource(10 * MiB, peExecutable());
  const sampled = await sampleHead(source);
  for await (const _piece of sampled.body) break;
  assert.equal(state.closed, true);
  assert.ok(state.pulled < MiB);
});

test('a 1 GiB stream: detection reads its head only, and memory stays flat while the rest streams through', async () => {
  const GiB = 1024 * MiB;
  const { source, state } = countingSource(GiB, peExecutable());
  global.gc?.();
  const before = process.memoryUsage().rss;
  const peakBefore = process.resourceUsage().maxRSS * 1024;
  const sampled = await sampleHead(source);
  assert.ok(state.pulled <= DEFAULT_SAMPLE_BYTES + 64 * 1024, `detection pulled ${state.pulled} bytes`);
  assert.equal((await detectType(sampled.head))?.ext, 'exe');
  let bytes = 0;
  for await (const piece of sampled.body) bytes += piece.length;
  assert.equal(bytes, GiB);
  const grew = Math.max(process.memoryUsage().rss - before, process.resourceUsage().maxRSS * 1024 - Math.max(peakBefore, before));
  process.stdout.write(`# 1 GiB streamed through type detection: resident memory grew by ${(grew / MiB).toFixed(1)} MiB\n`);
  // Anything that held the file would grow by about 1024 MiB.
  assert.ok(grew < 64 * MiB, `memory grew by ${(grew / MiB).toFixed(1)} MiB`);
});
