/**
 * Where the test-only addon lives: EPOXY_TESTING_ADDON, else build-dev/Release/ (what
 * `scripts/build-dev.sh --testing` makes, run once per `vitest run` by test/global-setup.ts).
 */
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

export function testingAddonPath(): string {
  const explicit = process.env['EPOXY_TESTING_ADDON'];
  return explicit ? path.resolve(explicit) : path.join(repoRoot, 'build-dev', 'Release', 'epoxy_testing.node');
}
