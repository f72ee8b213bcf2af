// Compiles the TypeScript after `npm install` in a source checkout. A published package ships
// dist/ already and has no src/, so there is nothing to do there.
import { existsSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';

const root = new URL('..', import.meta.url).pathname;
if (!existsSync(`${root}src/index.ts`)) process.exit(0);
let tsc;
try {
  tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
} catch {
  console.error('epoxy: typescript is not installed; run `npm install` with dev dependencies');
  process.exit(1);
}
const r = spawnSync(process.execPath, [tsc, '-p', `${root}tsconfig.json`], { stdio: 'inherit' });
process.exit(r.status ?? 1);
