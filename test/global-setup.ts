/**
 * Runs once per `vitest run`, before any test file: builds the test-only addon
 * (epoxy_testing.node: native/http's parser for the differential test) through CMake, so a
 * fresh clone needs nothing but `npm test`. Incremental: a second run rebuilds nothing.
 */
import { execFileSync } from 'node:child_process';
import * as path from 'node:path';

import { repoRoot } from './testing-addon.js';

export default function setup(): void {
  if (process.env['EPOXY_TESTING_ADDON']) return;
  execFileSync('bash', [path.join(repoRoot, 'scripts', 'build-dev.sh'), '--testing'], {
    cwd: repoRoot,
    stdio: ['ignore', 'ignore', 'inherit'],
  });
}
