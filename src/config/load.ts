import { readFile, stat } from 'node:fs/promises';
import { extname, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { createJiti } from 'jiti';
import { ConfigError } from './errors.js';

const TS_EXTENSIONS = new Set(['.ts', '.mts', '.cts']);
const JS_EXTENSIONS = new Set(['.js', '.mjs', '.cjs']);

// moduleCache: false makes jiti re-transpile and re-evaluate on every call, so a config edited
// on disk is seen by the next reload. The transpile cache on disk is keyed by content and stays on.
const jiti = createJiti(import.meta.url, { moduleCache: false });

let generation = 0;

/**
 * Loads a config file and returns its default export (or the parsed JSON), unvalidated.
 * Every call reads the file afresh. Throws ConfigError (path `(file)`) when the file is
 * missing, does not parse, throws while loading, or has no default export.
 */
export async function loadConfigFile(path: string): Promise<unknown> {
  const abs = resolve(path);
  const ext = extname(abs).toLowerCase();
  if (!TS_EXTENSIONS.has(ext) && !JS_EXTENSIONS.has(ext) && ext !== '.json') {
    throw fileError(`cannot load ${abs}: unsupported extension "${ext}" (use .ts, .mts, .js, .mjs or .json)`);
  }
  await assertReadableFile(abs);
  if (ext === '.json') return loadJson(abs);

  let mod: unknown;
  try {
    mod = TS_EXTENSIONS.has(ext) ? await jiti.import(abs) : await importFresh(abs);
  } catch (err) {
    throw fileError(`cannot load ${abs}: ${describeLoadError(err)}`);
  }
  if (typeof mod !== 'object' || mod === null || !('default' in mod) || mod.default === undefined) {
    throw fileError(`${abs} has no default export; write \`export default defineConfig({ ... })\``);
  }
  return mod.default;
}

// jiti hands .js/.mjs files to Node's own loader, which caches by URL; a query string gives each
// load its own URL. (Modules the config itself imports are still cached.)
function importFresh(abs: string): Promise<unknown> {
  generation += 1;
  return import(`${pathToFileURL(abs).href}?epoxy-load=${generation}`);
}

// Read directly rather than through require(), whose cache would pin the first version.
async function loadJson(abs: string): Promise<unknown> {
  const text = await readFile(abs, 'utf8');
  try {
    return JSON.parse(text);
  } catch (err) {
    throw fileError(`cannot load ${abs}: invalid JSON: ${err instanceof Error ? err.message : String(err)}`);
  }
}

async function assertReadableFile(abs: string): Promise<void> {
  try {
    const s = await stat(abs);
    if (!s.isFile()) throw fileError(`cannot load ${abs}: not a file`);
  } catch (err) {
    if (err instanceof ConfigError) throw err;
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : String(err);
    throw fileError(`cannot load ${abs}: ${why}`);
  }
}

/** One line naming the error and, when known, where in the file it is. */
function describeLoadError(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  const [first = '', ...rest] = err.message.split('\n').map((l) => l.trim()).filter(Boolean);
  const name = err.name && err.name !== 'Error' && !first.startsWith(err.name) ? `${err.name}: ` : '';
  // jiti puts `file:line:col` on the message's second line.
  const where = rest.find((l) => /:\d+:\d+$/.test(l));
  return `${name}${first}${where ? ` (at ${where})` : ''}`;
}

function fileError(message: string): ConfigError {
  return new ConfigError([{ path: '(file)', message }], 'cannot load epoxy config');
}
