import { createHash } from 'node:crypto';

const EICAR_MD5 = '44d88612fea8a8f36de82e1278abb02f';

/**
 * The 68-byte EICAR anti-virus test file, for the demo and the tests. Its pieces
 * are stored out of order so the string never appears whole in the repository (a
 * scanner on a developer's machine would quarantine the source tree), and the
 * result is checked against the well-known MD5 so a typo cannot turn every
 * "infected" check into a clean one.
 */
export function eicar(): Buffer {
  const pieces = ['ANTIVIRUS-TEST-', 'X5O!P%@AP[4\\PZX54(P^)7CC)7}', 'FILE!$H+H*', '$EICAR-STANDARD-'];
  const sample = Buffer.from([pieces[1], pieces[3], pieces[0], pieces[2]].join(''), 'ascii');
  const md5 = createHash('md5').update(sample).digest('hex');
  if (sample.length !== 68 || md5 !== EICAR_MD5) {
    throw new Error(`EICAR sample is wrong: ${sample.length} bytes, md5 ${md5}`);
  }
  return sample;
}
