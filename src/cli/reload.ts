/**
 * `epoxy run`'s live reload: on SIGHUP, and when the config file changes on disk, the file is
 * loaded again and handed to proxy.reload(). A version that fails keeps the running config and
 * is logged problem by problem; reloads run one at a time.
 */
import { lstatSync, watch, type FSWatcher } from 'node:fs';
import { basename, dirname, resolve } from 'node:path';
import { ConfigError } from '../config/errors.js';
import { loadConfigFile } from '../config/load.js';
import type { ConfigIssue } from '../config/types.js';
import type { Logger } from '../log/logger.js';

export type ReloadTrigger = 'signal' | 'file' | 'api';

/** What every log line of one reload carries, so it can be told from the others. */
// A type, not an interface: it is passed where Record<string, unknown> is expected.
export type ReloadLogFields = {
  config: string;
  trigger: ReloadTrigger;
};

/**
 * Applies a freshly loaded, unvalidated config; in `epoxy run` this is proxy.reload(), which
 * validates, logs each problem it finds and throws (ConfigError, or the bind error).
 */
export type ApplyConfig = (raw: unknown, logFields: ReloadLogFields) => Promise<void>;

export interface ReloaderOptions {
  file: string;
  logger: Logger;
  apply: ApplyConfig;
  /** Reload when the file changes, as well as on SIGHUP; false for `--no-watch`. */
  watch: boolean;
  /** Quiet time after the last change event before reloading. Default 200 ms. */
  debounceMs?: number;
}

export interface Reloader {
  /** True when the file is being watched (asked for, and fs.watch worked). */
  readonly watching: boolean;
  /**
   * Reloads now, in turn with the others (after the one running, together with any already
   * waiting), and settles with that reload's outcome: rejects with a ConfigError for a file that
   * does not load or validate, or with the error that kept the proxy from applying it. For the
   * admin API's POST /api/reload.
   */
  reload(trigger: ReloadTrigger): Promise<void>;
  /**
   * Called when the proxy starts stopping: no reload starts after this, SIGHUP becomes a no-op
   * and the watcher is closed. A reload in flight is not awaited; see reloadOnce.
   */
  close(): void;
}

// An editor's save is several events (truncate, write, rename, chmod); one reload should follow.
const DEFAULT_DEBOUNCE_MS = 200;

interface ReloadState {
  readonly options: ReloaderOptions;
  running: boolean;
  /** The trigger of the reload to run when the current one ends; one, however many arrived. */
  pending: ReloadTrigger | undefined;
  closed: boolean;
  debounce: NodeJS.Timeout | undefined;
  /** Callers of reload() waiting for the next pass to run. */
  waiting: Array<(outcome: Error | undefined) => void>;
}

/** Starts reloading `options.file` on SIGHUP and (unless `watch` is false) on change. */
export function startReloader(options: ReloaderOptions): Reloader {
  const state: ReloadState = { options, running: false, pending: undefined, closed: false, debounce: undefined, waiting: [] };
  const onHangup = () => onSignal(state);
  // The listener stays after close(): removing it would restore SIGHUP's default action, which
  // kills the process in the middle of its drain. A signal listener never holds the process open.
  process.on('SIGHUP', onHangup);
  const watcher = options.watch ? watchConfigFile(state) : undefined;
  return {
    watching: watcher !== undefined,
    reload(trigger) {
      if (state.closed) return Promise.reject(new Error('reload refused: stopping'));
      return new Promise<void>((resolve, reject) => {
        state.waiting.push((outcome) => (outcome ? reject(outcome) : resolve()));
        requestReload(state, trigger);
      });
    },
    close() {
      state.closed = true;
      clearTimeout(state.debounce);
      watcher?.close();
      settle(state.waiting.splice(0), new Error('reload abandoned: stopping'));
    },
  };
}

function onSignal(state: ReloadState): void {
  if (state.closed) {
    state.options.logger.info({ signal: 'SIGHUP' }, 'SIGHUP ignored: stopping');
    return;
  }
  requestReload(state, 'signal');
}

/**
 * Watches the file's directory rather than the file: vim and `sed -i` save by renaming a new
 * file over the old one, and a watch on the old inode would never fire again. One watch on the
 * directory sees both in-place writes and renames, with nothing to re-arm. When the file is a
 * symlink, any entry of the directory may be what it resolves through: a Kubernetes ConfigMap
 * volume updates `name -> ..data/name` by swapping the `..data` link, and no event names the file.
 */
function watchConfigFile(state: ReloadState): FSWatcher | undefined {
  const { file, logger } = state.options;
  const abs = resolve(file);
  const name = basename(abs);
  let watcher: FSWatcher;
  try {
    // Not persistent: the proxy keeps the process alive, the watcher must not outlive it.
    watcher = watch(dirname(abs), { persistent: false }, (_event, changed) => {
      // Linux always names the entry; were it missing, reloading once too often is harmless.
      if (changed === null || changed === name || isSymlink(abs)) onFileEvent(state);
    });
  } catch (err) {
    // ENOSPC (inotify watch limit), EMFILE, or the directory went away: SIGHUP still works.
    logger.warn({ err, config: file }, 'cannot watch the config file; reload it with SIGHUP');
    return undefined;
  }
  watcher.on('error', (err) => {
    logger.warn({ err, config: file }, 'watching the config file failed; reload it with SIGHUP');
    watcher.close();
  });
  return watcher;
}

function isSymlink(path: string): boolean {
  try {
    return lstatSync(path).isSymbolicLink();
  } catch {
    return false;
  }
}

function onFileEvent(state: ReloadState): void {
  if (state.closed) return;
  clearTimeout(state.debounce);
  state.debounce = setTimeout(() => {
    state.debounce = undefined;
    requestReload(state, 'file');
  }, state.options.debounceMs ?? DEFAULT_DEBOUNCE_MS);
  state.debounce.unref();
}

/** Starts a reload, or, if one is running, makes sure exactly one more runs after it. */
function requestReload(state: ReloadState, trigger: ReloadTrigger): void {
  if (state.closed) return;
  if (state.running) {
    state.pending = trigger;
    return;
  }
  void runReloads(state, trigger);
}

// The file is read afresh by each pass, so a change that arrived during a reload is seen by the
// next one even though it has been coalesced with any others.
async function runReloads(state: ReloadState, first: ReloadTrigger): Promise<void> {
  state.running = true;
  let trigger: ReloadTrigger | undefined = first;
  while (trigger !== undefined && !state.closed) {
    state.pending = undefined;
    // Whoever asked before this pass reads the file gets this pass's outcome.
    const waiting = state.waiting.splice(0);
    settle(waiting, await reloadOnce(state, trigger));
    trigger = state.pending;
  }
  state.running = false;
}

function settle(waiting: Array<(outcome: Error | undefined) => void>, outcome: Error | undefined): void {
  for (const done of waiting) done(outcome);
}

/**
 * Loads the file and applies it. Never throws: whatever goes wrong is logged, the running config
 * stays, and the error is returned (a ConfigError for a file that does not load or validate).
 * A stop that begins meanwhile is not waited for (a config file that never finishes loading must
 * not hold up SIGTERM); apply() then fails with "proxy is stopped", which is not worth an error
 * line.
 */
async function reloadOnce(state: ReloadState, trigger: ReloadTrigger): Promise<Error | undefined> {
  const { file, logger, apply } = state.options;
  const fields: ReloadLogFields = { config: file, trigger };
  let raw: unknown;
  try {
    raw = await loadConfigFile(file);
  } catch (err) {
    // The proxy never saw this version, so its problems are ours to log.
    const issues = loadIssues(err);
    for (const { path, message } of issues) logger.error({ ...fields, path, message }, `reload rejected: ${message}`);
    logFailure(logger, fields, issues.length);
    return err instanceof ConfigError ? err : new ConfigError(issues, 'cannot load epoxy config');
  }
  if (state.closed) return abandoned(logger, fields);
  try {
    await apply(raw, fields);
    return undefined;
  } catch (err) {
    if (state.closed) return abandoned(logger, fields);
    // apply() has logged each problem with its path; a bind error is a single problem.
    logFailure(logger, fields, err instanceof ConfigError ? err.issues.length : 1);
    return err instanceof Error ? err : new Error(String(err));
  }
}

function loadIssues(err: unknown): ConfigIssue[] {
  if (err instanceof ConfigError) return err.issues;
  // loadConfigFile wraps what it expects; anything else (say, the file vanishing between its
  // stat and its read) is still a problem with the file.
  return [{ path: '(file)', message: err instanceof Error ? err.message : String(err) }];
}

function logFailure(logger: Logger, fields: ReloadLogFields, problems: number): void {
  logger.error({ ...fields, problems }, 'reload failed, the running config stays');
}

function abandoned(logger: Logger, fields: ReloadLogFields): Error {
  logger.info(fields, 'reload abandoned: stopping');
  return new Error('reload abandoned: stopping');
}
