// Preloaded into a process under test (`node --import`): when it exits, writes the
// Node built-in modules it loaded, one per line, to the file that
// BUCKETSCAN_TEST_MODULE_LIST names.
import { writeFileSync } from 'node:fs';

const file = process.env['BUCKETSCAN_TEST_MODULE_LIST'];
if (file) process.on('exit', () => writeFileSync(file, (process as unknown as { moduleLoadList: string[] }).moduleLoadList.join('\n')));
