/**
 * Test payloads that the project's test signatures (test/fixtures/signatures)
 * detect, built at run time so that no file in the repository is itself a
 * detectable sample: a virus scanner on a developer's machine or in CI must not
 * quarantine the source tree.
 */
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { createDeflateRaw, crc32, deflateRawSync, deflateSync } from 'node:zlib';

/** What clamd reports for eicar(): the .hdb name plus the suffix clamd adds to every unsigned database's names. */
export const EICAR_SIGNATURE = 'Win.Test.EICAR_HDB-1.UNOFFICIAL';
/** What clamd reports for a stream containing MARKER. */
export const MARKER_SIGNATURE = 'BucketScan.Test.Marker-1.UNOFFICIAL';

export { eicar } from '../../src/local/eicar.ts';

/**
 * The string bucketscan-test.ndb matches anywhere in a file. Joined at run time for
 * the same reason as eicar(); the hex part is fixed random so that no real file
 * contains it by accident.
 */
export const MARKER: string = ['BUCKETSCAN', 'TEST', 'SIGNATURE', '063ba0a980f11c320ce3dd9b'].join('-');

/** What test/fixtures/custom-signatures/acme.ndb matches anywhere in a file, joined at run time like MARKER. */
export const CUSTOM_NDB_MARKER: string = ['CUSTOM', 'NDB', 'MARKER', '5e0c31d8a4b7f29e'].join('-');
export const CUSTOM_NDB_SIGNATURE = 'Custom.Test.NdbMarker-1.UNOFFICIAL';
/** What the YARA rule of test/fixtures/custom-signatures/acme.yar matches. */
export const CUSTOM_YARA_MARKER: string = ['CUSTOM', 'YARA', 'MARKER', 'b93f1a07c6d2e845'].join('-');
export const CUSTOM_YARA_SIGNATURE = 'YARA.Custom_Test_YaraMarker.UNOFFICIAL';

/**
 * The head of a Windows executable as file-type and clamd recognise one: the DOS
 * header ("MZ", the offset of the PE header at 0x3c), then "PE\0\0" and an empty
 * COFF header. Not a program that runs; enough to be an executable by its bytes.
 */
export function peExecutable(): Buffer {
  const bytes = Buffer.alloc(1024);
  bytes.write('MZ', 0, 'latin1');
  bytes.writeUInt32LE(0x80, 0x3c);
  bytes.write('PE\0\0', 0x80, 'latin1');
  bytes.writeUInt16LE(0x14c, 0x84); // i386
  return bytes;
}

/** The first lines of a PDF. */
export function pdfHead(): Buffer {
  return Buffer.from('%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Type /Catalog >>\nendobj\n', 'latin1');
}

/** A valid 1x1 PNG, built from its chunks. */
export function png(): Buffer {
  const chunk = (type: string, data: Buffer) => {
    const body = Buffer.concat([Buffer.from(type, 'latin1'), data]);
    const framed = Buffer.alloc(body.length + 8);
    framed.writeUInt32BE(data.length, 0);
    body.copy(framed, 4);
    framed.writeUInt32BE(crc32(body), body.length + 4);
    return framed;
  };
  const header = Buffer.alloc(13);
  header.writeUInt32BE(1, 0);
  header.writeUInt32BE(1, 4);
  header.writeUInt8(8, 8); // bit depth
  header.writeUInt8(2, 9); // truecolour
  return Buffer.concat([
    Buffer.from('89504e470d0a1a0a', 'hex'),
    chunk('IHDR', header),
    chunk('IDAT', deflateSync(Buffer.from([0, 255, 0, 0]))),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

export interface ZipEntry {
  name: string;
  data: Buffer;
}

/** One entry ready to be written: its bytes exactly as they go into the archive. */
export interface ZipMember {
  name: string;
  /** 0: stored, 8: deflated. */
  method: 0 | 8;
  /** The entry's data as stored: compressed and/or encrypted where that applies. */
  body: Buffer;
  /** CRC-32 and size of the original (uncompressed, unencrypted) data. */
  crc: number;
  size: number;
  /** Traditional PKWARE encryption (general purpose flag bit 0). */
  encrypted: boolean;
}

/** A member stored as is. */
export function stored(name: string, data: Buffer): ZipMember {
  return { name, method: 0, body: data, crc: crc32(data), size: data.length, encrypted: false };
}

/** A member compressed with deflate. */
export function deflated(name: string, data: Buffer): ZipMember {
  return { name, method: 8, body: deflateRawSync(data, { level: 9 }), crc: crc32(data), size: data.length, encrypted: false };
}

/**
 * A deflated member of `size` bytes, all zero but for `tail` at the very end,
 * compressed as a stream from one reused block, so a member that expands to
 * hundreds of MB costs well under a second and only its compressed form (about
 * 1/1000 of it) is ever held: the body of a zip bomb.
 */
export async function deflatedZeros(name: string, size: number, tail: Buffer = Buffer.alloc(0)): Promise<ZipMember> {
  if (!Number.isSafeInteger(size) || size < tail.length || size > 0xffff_ffff) {
    throw new RangeError(`size must fit a non-ZIP64 entry and hold the tail, got ${size}`);
  }
  const zeros = size - tail.length;
  const block = Buffer.alloc(Math.min(zeros, 1024 * 1024));
  const deflate = createDeflateRaw({ level: 9 });
  const output: Buffer[] = [];
  deflate.on('data', (chunk: Buffer) => output.push(chunk));
  const finished = new Promise<void>((resolve, reject) => {
    deflate.once('end', resolve);
    deflate.once('error', reject);
  });
  let crc = 0;
  for (let written = 0; written < zeros; written += block.length) {
    const piece = block.subarray(0, Math.min(block.length, zeros - written));
    crc = crc32(piece, crc);
    if (!deflate.write(piece)) await once(deflate, 'drain');
  }
  crc = crc32(tail, crc);
  deflate.end(tail);
  await finished;
  return { name, method: 8, body: Buffer.concat(output), crc, size, encrypted: false };
}

/**
 * The member encrypted with traditional PKWARE encryption ("ZipCrypto", APPNOTE
 * 6.1): what `zip -P` and most archivers write for a password-protected zip. The
 * body becomes a 12-byte encryption header (11 random bytes and the top byte of the
 * CRC, which is how a reader checks the password) followed by the data, all run
 * through the keystream.
 */
export function encrypted(member: ZipMember, password: string): ZipMember {
  if (member.encrypted) throw new Error(`${member.name} is already encrypted`);
  const keys = new ZipCryptoKeys(Buffer.from(password, 'utf8'));
  const header = randomBytes(12);
  header[11] = member.crc >>> 24;
  const plain = Buffer.concat([header, member.body]);
  const cipher = Buffer.alloc(plain.length);
  for (let i = 0; i < plain.length; i++) {
    const byte = plain[i] ?? 0;
    cipher[i] = byte ^ keys.streamByte();
    keys.update(byte);
  }
  return { ...member, body: cipher, encrypted: true };
}

/** The three 32-bit keys of traditional PKWARE encryption. */
class ZipCryptoKeys {
  #key0 = 0x12345678;
  #key1 = 0x23456789;
  #key2 = 0x34567890;

  constructor(password: Buffer) {
    for (const byte of password) this.update(byte);
  }

  update(plainByte: number): void {
    this.#key0 = crcStep(this.#key0, plainByte);
    this.#key1 = (Math.imul((this.#key1 + (this.#key0 & 0xff)) >>> 0, 134775813) + 1) >>> 0;
    this.#key2 = crcStep(this.#key2, this.#key1 >>> 24);
  }

  streamByte(): number {
    const temp = (this.#key2 | 2) & 0xffff;
    return (Math.imul(temp, temp ^ 1) >>> 8) & 0xff;
  }
}

/** One byte of the raw CRC-32 register update (no pre- or post-inversion), as the key schedule uses it. */
const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});

function crcStep(crc: number, byte: number): number {
  return ((CRC_TABLE[(crc ^ byte) & 0xff] ?? 0) ^ (crc >>> 8)) >>> 0;
}

/**
 * A ZIP archive with every entry stored (no compression): enough for clamd to have
 * to open the archive to find what is inside, with no external tool.
 */
export function zipStored(entries: ZipEntry[]): Buffer {
  return zip(entries.map((entry) => stored(entry.name, entry.data)));
}

/**
 * A ZIP archive of prepared members. No ZIP64, so entries and the archive stay
 * under 4 GiB and 65535 entries.
 */
export function zip(members: ZipMember[]): Buffer {
  if (members.length > 0xffff) throw new RangeError('zip supports at most 65535 entries');
  const parts: Buffer[] = [];
  const directory: Buffer[] = [];
  let offset = 0;

  for (const member of members) {
    const name = Buffer.from(member.name, 'utf8');
    if (member.body.length > 0xffff_ffff || member.size > 0xffff_ffff) {
      throw new RangeError(`zip entry ${member.name} is too large for a non-ZIP64 archive`);
    }

    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0); // local file header signature
    writeCommonFields(local, 4, member, name.length);
    parts.push(local, name, member.body);

    const central = Buffer.alloc(46);
    central.writeUInt32LE(0x02014b50, 0); // central directory header signature
    central.writeUInt16LE(0x031e, 4); // made by: Unix, spec 3.0
    writeCommonFields(central, 6, member, name.length);
    // 32: comment length, 34: disk number, 36: internal attributes stay 0
    central.writeUInt32LE(0o100644 * 0x1_0000, 38); // external attributes: a regular file, rw-r--r--
    central.writeUInt32LE(offset, 42);
    directory.push(central, name);

    offset += local.length + name.length + member.body.length;
    if (offset > 0xffff_ffff) throw new RangeError('zip archive too large for a non-ZIP64 archive');
  }

  const directorySize = directory.reduce((total, part) => total + part.length, 0);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0); // end of central directory signature
  // 4: this disk, 6: disk with the directory, both 0
  end.writeUInt16LE(members.length, 8);
  end.writeUInt16LE(members.length, 10);
  end.writeUInt32LE(directorySize, 12);
  end.writeUInt32LE(offset, 16);
  // 20: comment length 0
  return Buffer.concat([...parts, ...directory, end]);
}

/** The fields local and central headers share, from "version needed" to "extra length". */
function writeCommonFields(header: Buffer, at: number, member: ZipMember, nameLength: number): void {
  // version needed: 1.0 for stored, 2.0 for deflate or encryption
  header.writeUInt16LE(member.method === 0 && !member.encrypted ? 10 : 20, at);
  header.writeUInt16LE(0x0800 | (member.encrypted ? 0x0001 : 0), at + 2); // flags: names are UTF-8; bit 0: encrypted
  header.writeUInt16LE(member.method, at + 4);
  header.writeUInt16LE(0, at + 6); // time 00:00:00
  header.writeUInt16LE((0 << 9) | (1 << 5) | 1, at + 8); // date 1980-01-01, the DOS epoch
  header.writeUInt32LE(member.crc, at + 10);
  header.writeUInt32LE(member.body.length, at + 14); // compressed size (with the encryption header)
  header.writeUInt32LE(member.size, at + 18); // uncompressed size
  header.writeUInt16LE(nameLength, at + 22);
  header.writeUInt16LE(0, at + 24); // extra field length
}
