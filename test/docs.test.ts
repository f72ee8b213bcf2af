/** docs/configuration.md is generated from src/config/types.ts and must be kept up to date with it. */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, it } from 'vitest';

import { configSchema } from '../src/config/schema.js';

const root = new URL('..', import.meta.url).pathname;
const committed = readFileSync(join(root, 'docs/configuration.md'), 'utf8');

/** The field names in the table of one section (`## Name`) of the reference. */
function fieldsOf(doc: string, section: string): string[] {
  const start = doc.indexOf(`\n## ${section}\n`);
  if (start < 0) throw new Error(`no section ${section}`);
  const end = doc.indexOf('\n## ', start + 1);
  const body = doc.slice(start, end < 0 ? undefined : end);
  return [...body.matchAll(/^\| `(\w+)` \|/gm)].map((m) => m[1]!);
}

it('docs/configuration.md is what scripts/config-reference.mjs makes of the types (run `npm run docs`)', () => {
  const out = join(mkdtempSync(join(tmpdir(), 'epoxy-docs-')), 'configuration.md');
  const r = spawnSync(process.execPath, [join(root, 'scripts/config-reference.mjs'), out], { encoding: 'utf8' });
  expect(r.stderr).toBe('');
  expect(r.status).toBe(0);
  expect(readFileSync(out, 'utf8')).toBe(committed);
});

it('documents every top-level key the config accepts, and only those', () => {
  expect(fieldsOf(committed, 'EpoxyConfig').sort()).toEqual(Object.keys(configSchema.shape).sort());
  expect(fieldsOf(committed, 'AccessLogConfig')).toEqual(['mode', 'sampleRate', 'destination']);
});

it('the README links the reference and the metrics list', () => {
  const readme = readFileSync(join(root, 'README.md'), 'utf8');
  expect(readme).toContain('(docs/configuration.md)');
  expect(readme).toContain('Metrics: see docs/metrics.md');
});
