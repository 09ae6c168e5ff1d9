/**
 * `npm run test:browser`: runs the browser tests (tests/browser) in Debian's
 * Chromium. Where /usr/bin/chromium is missing, it prints that it skipped
 * them and why, and exits 0, so `npm test` passes on machines without a browser.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';

import { CHROMIUM_PATH } from '../tests/browser/browser.ts';

if (!existsSync(CHROMIUM_PATH)) {
  process.stdout.write(
    `test:browser: skipped the browser tests because ${CHROMIUM_PATH} does not exist; install it with: apt-get install -y chromium\n`,
  );
  process.exit(0);
}

const child = spawn('npx', ['vitest', 'run', '--config', 'tests/browser/vitest.config.ts', ...process.argv.slice(2)], {
  stdio: 'inherit',
});
child.on('exit', (code, signal) => {
  process.exit(signal === null ? (code ?? 1) : 1);
});
