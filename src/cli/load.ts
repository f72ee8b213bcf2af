import { ConfigError } from '../config/errors.js';
import { loadConfigFile } from '../config/load.js';
import type { ConfigIssue, ResolvedConfig } from '../config/types.js';
import { resolveConfig } from '../config/validate.js';

export type Loaded = { ok: true; raw: unknown; config: ResolvedConfig } | { ok: false; issues: ConfigIssue[] };

/** The one loader of the CLI's commands (`check`, `run`, `hosts`, `servers`): the file, then its meaning. */
export async function loadAndResolve(file: string): Promise<Loaded> {
  let raw: unknown;
  try {
    raw = await loadConfigFile(file);
  } catch (err) {
    if (err instanceof ConfigError) return { ok: false, issues: err.issues };
    throw err;
  }
  const result = await resolveConfig(raw);
  return result.ok ? { ok: true, raw, config: result.config } : result;
}
