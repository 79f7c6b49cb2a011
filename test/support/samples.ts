/**
 * Test payloads that the project's test signatures (test/fixtures/signatures)
 * detect, built at run time so that no file in the repository is itself a
 * detectable sample: a virus scanner on a developer's machine or in CI must not
 * quarantine the source tree.
 */
import { crc32 } from 'node:zlib';

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

export interface ZipEntry {
  name: string;
  data: Buffer;
}

/**
 * A ZIP archive with every entry stored (no compression): enough for clamd to have
 * to open the archive to find what is inside, with no external tool. No ZIP64, so
 * entries and the archive stay under 4 GiB and 65535 entries.
 */
export function zipStored(entries: ZipEntry[]): Buffer {
  if (entries.length > 0xffff) throw new RangeError('zipStored supports at most 65535 entries');
  const parts: Buffer[] = [];
  const directory: Buffer[] = [];
  let offset = 0;

  for (const entry of entries) {
    const name = Buffer.from(entry.name, 'utf8');
    const size = entry.data.length;
    const crc = crc32(entry.data);
    if (size > 0xffff_ffff) throw new RangeError(`zip entry ${entry.name} is too large for a non-ZIP64 archive`);

    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0); // local file header signature
    writeCommonFields(local, 4, crc, size, name.length);
    parts.push(local, name, entry.data);

    const central = Buffer.alloc(46);
    central.writeUInt32LE(0x02014b50, 0); // central directory header signature
    central.writeUInt16LE(0x031e, 4); // made by: Unix, spec 3.0
    writeCommonFields(central, 6, crc, size, name.length);
    // 32: comment length, 34: disk number, 36: internal attributes stay 0
    central.writeUInt32LE(0o100644 * 0x1_0000, 38); // external attributes: a regular file, rw-r--r--
    central.writeUInt32LE(offset, 42);
    directory.push(central, name);

    offset += local.length + name.length + size;
    if (offset > 0xffff_ffff) throw new RangeError('zip archive too large for a non-ZIP64 archive');
  }

  const directorySize = directory.reduce((total, part) => total + part.length, 0);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0); // end of central directory signature
  // 4: this disk, 6: disk with the directory, both 0
  end.writeUInt16LE(entries.length, 8);
  end.writeUInt16LE(entries.length, 10);
  end.writeUInt32LE(directorySize, 12);
  end.writeUInt32LE(offset, 16);
  // 20: comment length 0
  return Buffer.concat([...parts, ...directory, end]);
}

/** The fields local and central headers share, from "version needed" to "extra length". */
function writeCommonFields(header: Buffer, at: number, crc: number, size: number, nameLength: number): void {
  header.writeUInt16LE(10, at); // version needed: 1.0, enough for stored entries
  header.writeUInt16LE(0x0800, at + 2); // flags: names are UTF-8
  header.writeUInt16LE(0, at + 4); // method: stored
  header.writeUInt16LE(0, at + 6); // time 00:00:00
  header.writeUInt16LE((0 << 9) | (1 << 5) | 1, at + 8); // date 1980-01-01, the DOS epoch
  header.writeUInt32LE(crc, at + 10);
  header.writeUInt32LE(size, at + 14); // compressed size
  header.writeUInt32LE(size, at + 18); // uncompressed size
  header.writeUInt16LE(nameLength, at + 22);
  header.writeUInt16LE(0, at + 24); // extra field length
}
