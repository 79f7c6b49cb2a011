// The deployed configuration, run as the container images: the worker and clamd
// images started with exactly the environment the checked-in template's task
// definition gives them (deploy/test/deployed-config.ts has the suite). Two
// stand-ins for what only AWS has: the definitions come from the project's test
// signatures with freshclam off (the task's freshclam reads the deployment's
// private mirror, its custom/ detection set too: FRESHCLAM_CUSTOM_DATABASES_URL is
// left out with it; test/image/image.test.ts fetches a set that way), and the worker gets the emulator's endpoint and test
// credentials (the task role there). Everything else is the template's.
import { fileURLToPath } from 'node:url';
import { ClamdClient } from '../../src/scan/clamd-client.ts';
import { waitFor } from '../support/wait.ts';
import { deployedConfigTests, type Launcher } from '../../deploy/test/deployed-config.ts';
import { IMAGES, startContainer, tail, uniqueName } from './podman.ts';

const SIGNATURES = fileURLToPath(new URL('../fixtures/signatures', import.meta.url));

const containerLauncher: Launcher = {
  async startClamd(environment) {
    const { FRESHCLAM_CUSTOM_DATABASES_URL: _mirrorSet, ...template } = environment;
    const clamd = startContainer(IMAGES.clamd, {
      name: uniqueName('deployed-clamd'),
      env: { ...template, FRESHCLAM: 'off', CLAMD_EXTRA_SIGNATURES_DIR: '/signatures' },
      args: ['--volume', `${SIGNATURES}:/signatures:ro`],
    });
    const client = new ClamdClient({
      address: { kind: 'tcp', host: '127.0.0.1', port: Number(environment['CLAMD_TCP_PORT']) },
      connectTimeoutMs: 1_000,
      idleTimeoutMs: 5_000,
    });
    await waitFor(
      'the clamd container to answer PING',
      async () => {
        if (clamd.child.exitCode !== null) throw new Error(`the clamd container exited${tail(clamd)}`);
        return (
          (await client
            .ping()
            .then(() => true)
            .catch(() => undefined)) ?? undefined
        );
      },
      120_000,
    );
    return { stop: () => clamd.remove() };
  },
  async startWorker(environment) {
    // PATH is the process launcher's need, not the image's: the image has its own.
    const { PATH: _path, ...env } = environment;
    const worker = startContainer(IMAGES.worker, { name: uniqueName('deployed-worker'), env });
    return {
      lines: worker.json,
      async stop() {
        worker.child.kill('SIGTERM');
        return worker.exit;
      },
    };
  },
};

deployedConfigTests(containerLauncher);
