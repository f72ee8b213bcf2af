/** The access log's settings: mode, sampling and a file destination that epoxy can write. */
import { constants as fsConstants, promises as fs } from 'node:fs';
import { dirname, resolve as resolvePath } from 'node:path';
import { errorCode } from './errors.js';
import { accessLogFields, type ParsedConfig } from './schema.js';
import type { ConfigIssue, ResolvedAccessLog } from './types.js';

const ACCESS_LOG_DEFAULTS = { mode: 'full', sampleRate: 0.01 } as const;

export async function checkAccessLog(raw: unknown, issues: ConfigIssue[]): Promise<void> {
  const view = accessLogFields(raw);
  if (!view) return;
  // A malformed mode is reported by the shape check; what depends on it waits.
  const mode = view.given.has('mode') ? view.mode : ACCESS_LOG_DEFAULTS.mode;
  if (view.sampleRate !== undefined && mode !== undefined && mode !== 'sampled') {
    const which = view.given.has('mode') ? `"${mode}"` : `"${mode}" by default (add mode: "sampled")`;
    issues.push({ path: 'accessLog.sampleRate', message: `is only used with mode "sampled", but the mode is ${which}` });
  }
  if (view.destination !== undefined && view.destination !== 'stdout') {
    const problem = await fileDestinationProblem(resolvePath(view.destination));
    if (problem) issues.push({ path: 'accessLog.destination', message: problem });
  }
}

/**
 * Why epoxy could not append to `file`, or undefined if it can. Checked when the config loads so
 * that `epoxy check` finds a typo in a log directory, not the first request.
 */
async function fileDestinationProblem(file: string): Promise<string | undefined> {
  const stat = await fs.stat(file).catch((err: unknown) => errorCode(err));
  if (typeof stat !== 'string') {
    if (stat.isDirectory()) return `${file} is a directory; give a file path or "stdout"`;
    return writable(file, fsConstants.W_OK, `cannot write to ${file}`);
  }
  // ENOTDIR: some parent is a file; the directory check below says which.
  if (stat !== 'ENOENT' && stat !== 'ENOTDIR') return `cannot use ${file} (${stat})`;
  // The file is created on first open; its directory must exist and let us create it.
  const dir = dirname(file);
  const dirStat = await fs.stat(dir).catch((err: unknown) => errorCode(err));
  if (typeof dirStat === 'string') {
    return dirStat === 'ENOENT' || dirStat === 'ENOTDIR' ? `directory ${dir} does not exist` : `cannot use directory ${dir} (${dirStat})`;
  }
  if (!dirStat.isDirectory()) return `${dir} is not a directory`;
  return writable(dir, fsConstants.W_OK | fsConstants.X_OK, `cannot create ${file} in ${dir}`);
}

async function writable(path: string, mode: number, what: string): Promise<string | undefined> {
  try {
    await fs.access(path, mode);
    return undefined;
  } catch (err) {
    return `${what} (${errorCode(err)})`;
  }
}

/** `true` is every request to stdout; a relative file path is taken from the working directory. */
export function resolveAccessLog(a: ParsedConfig['accessLog']): ResolvedAccessLog {
  if (a === undefined || a === false) return { mode: 'off', sampleRate: 0, destination: 'stdout' };
  if (a === true) return { mode: 'full', sampleRate: 1, destination: 'stdout' };
  const mode = a.mode ?? ACCESS_LOG_DEFAULTS.mode;
  const sampleRate = mode === 'sampled' ? (a.sampleRate ?? ACCESS_LOG_DEFAULTS.sampleRate) : mode === 'full' ? 1 : 0;
  const destination = a.destination === undefined || a.destination === 'stdout' ? 'stdout' : resolvePath(a.destination);
  return { mode, sampleRate, destination };
}
