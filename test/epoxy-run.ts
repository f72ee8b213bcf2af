/**
 * `epoxy run` in a child process (the compiled CLI in dist/), with its JSON log lines parsed as
 * they arrive. Needs dist/ (`npx tsc -p tsconfig.json`) and the addon in build/.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach } from 'vitest';

import { sleep } from './helpers.js';

export const cli = new URL('../dist/cli/main.js', import.meta.url).pathname;

export type LogLine = Record<string, unknown> & { msg?: string };

export interface Run {
  child: ChildProcess;
  /** The config file the process runs. */
  file: string;
  output(): string;
  logs(): LogLine[];
  /** The first log line (from index `from` on) that matches; fails after `timeoutMs` or when the process exits. */
  waitForLog(match: (line: LogLine) => boolean, from?: number, timeoutMs?: number): Promise<LogLine>;
  exit: Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }>;
}

/** Runs started in the calling test file are killed (SIGKILL) after each test if still running. */
export function runsKilledAfterEach(): Run[] {
  const runs: Run[] = [];
  afterEach(() => {
    for (const r of runs.splice(0)) if (r.child.exitCode === null && r.child.signalCode === null) r.child.kill('SIGKILL');
  });
  return runs;
}

/** Writes `configText` to a fresh temp dir as `name`, starts `epoxy run [args] file`, waits for its "epoxy running" line. */
export async function startEpoxyRun(configText: string, args: string[] = [], name = 'epoxy.config.mjs'): Promise<Run> {
  const dir = mkdtempSync(join(tmpdir(), 'epoxy-run-'));
  const file = join(dir, name);
  writeFileSync(file, configText);
  return startEpoxyFile(file, args);
}

/** `epoxy run [args] file` for an existing config file (an example), with extra environment variables. */
export async function startEpoxyFile(file: string, args: string[] = [], env: Record<string, string> = {}): Promise<Run> {
  const child = spawn(process.execPath, [cli, 'run', ...args, file], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (out += d));
  const exit = once(child, 'exit').then(([code, signal]) => ({
    code: code as number | null,
    signal: signal as NodeJS.Signals | null,
    at: Date.now(),
  }));
  const logs = (): LogLine[] =>
    out
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as LogLine);
  const run: Run = {
    child,
    file,
    output: () => out,
    logs,
    exit,
    async waitForLog(match, from = 0, timeoutMs = 5000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const found = logs().slice(from).find(match);
        if (found) return found;
        if (Date.now() > deadline || child.exitCode !== null || child.signalCode !== null) {
          throw new Error(`no matching log line within ${timeoutMs} ms; output:\n${out}`);
        }
        await sleep(20);
      }
    },
  };
  try {
    await run.waitForLog((l) => typeof l.msg === 'string' && l.msg.startsWith('epoxy running'));
  } catch (err) {
    child.kill('SIGKILL');
    throw err;
  }
  return run;
}
