// Every process the harness starts goes through here, so that none of them outlives it: each is
// spawned in a process group of its own (nginx's worker dies with its master), remembered by PID,
// and killed by PID (the group's id) on a normal stop, on Ctrl-C/SIGTERM, on an uncaught error and
// at exit. The PIDs are also written to a small file so that a harness killed with SIGKILL gets
// its leftovers cleaned up by the next run (only when the PID's start time still matches).
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const PID_FILE = join(tmpdir(), 'epoxy-bench.pids.json');
const OUTPUT_LIMIT = 64 * 1024;

/** pid -> Proc */
const live = new Map();

/** PID + start time identify a process for good (a PID alone may be reused; nginx rewrites its cmdline). */
function startTimeOf(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19]; // field 22, starttime
  } catch {
    return undefined;
  }
}

const tempDirs = new Set();

/** Remembers a temp dir so that the next run removes it if this one is killed with SIGKILL. */
export function rememberTempDir(dir) {
  tempDirs.add(dir);
  savePids();
}

function savePids() {
  const processes = [...live.values()].map((p) => ({ pid: p.pid, start: p.startTime, name: p.name }));
  try {
    if (processes.length === 0 && tempDirs.size === 0) rmSync(PID_FILE, { force: true });
    else writeFileSync(PID_FILE, JSON.stringify({ processes, tempDirs: [...tempDirs] }));
  } catch {
    // best effort
  }
}

function killGroup(pid, signal) {
  try {
    process.kill(-pid, signal);
  } catch {
    // the group may be gone already
  }
  try {
    process.kill(pid, signal);
  } catch {
    // so may the process
  }
}

/** Kills what a previous, hard-killed run left behind (same PID and same start time only). */
export function reapLeftovers(log = console.error) {
  if (!existsSync(PID_FILE)) return;
  let saved = {};
  try {
    saved = JSON.parse(readFileSync(PID_FILE, 'utf8'));
  } catch {
    // unreadable: ignore
  }
  for (const { pid, start, name } of saved.processes ?? []) {
    if (start && startTimeOf(pid) === start) {
      log(`bench: killing leftover process ${pid} (${name}) from an earlier run`);
      killGroup(pid, 'SIGKILL');
    }
  }
  for (const dir of saved.tempDirs ?? []) {
    if (typeof dir === 'string' && dir.includes('epoxy-bench-') && existsSync(dir)) {
      log(`bench: removing leftover temp dir ${dir}`);
      rmSync(dir, { recursive: true, force: true });
    }
  }
  rmSync(PID_FILE, { force: true });
}

/**
 * Starts `cmd args` in its own process group. Returns a Proc: { name, pid, child, exited (a
 * promise of {code, signal}), output() (the last 64 KiB of stdout+stderr), stdout(), stderr() }.
 */
export function startProcess(name, cmd, args, { env, cwd, keepOutput = true } = {}) {
  const child = spawn(cmd, args, {
    cwd,
    env: env ? { ...process.env, ...env } : process.env,
    detached: true, // own process group: Ctrl-C in the terminal reaches only the harness
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let stdout = '';
  let stderr = '';
  const keep = (s, chunk) => {
    const next = s + chunk;
    return next.length > OUTPUT_LIMIT ? next.slice(next.length - OUTPUT_LIMIT) : next;
  };
  child.stdout.setEncoding('utf8');
  child.stderr.setEncoding('utf8');
  child.stdout.on('data', (d) => {
    out = keep(out, d);
    if (keepOutput) stdout += d;
  });
  child.stderr.on('data', (d) => {
    out = keep(out, d);
    if (keepOutput) stderr = keep(stderr, d);
  });
  const proc = {
    name,
    pid: child.pid,
    child,
    startTime: undefined,
    exitInfo: undefined,
    output: () => out,
    stdout: () => stdout,
    stderr: () => stderr,
  };
  const spawned = new Promise((resolve, reject) => {
    child.once('spawn', resolve);
    child.once('error', reject);
  });
  proc.exited = new Promise((resolve) => {
    child.once('close', (code, signal) => {
      proc.exitInfo = { code, signal };
      live.delete(proc.pid);
      savePids();
      resolve(proc.exitInfo);
    });
    child.once('error', (err) => {
      proc.exitInfo = { code: null, signal: null, error: err };
      if (proc.pid) live.delete(proc.pid);
      savePids();
      resolve(proc.exitInfo);
    });
  });
  proc.spawned = spawned;
  if (child.pid) {
    live.set(child.pid, proc);
    proc.startTime = startTimeOf(child.pid);
    savePids();
  }
  return proc;
}

/** SIGTERM to the process group, SIGKILL after `graceMs`; resolves when the process is gone. */
export async function stopProcess(proc, { graceMs = 3000, signal = 'SIGTERM' } = {}) {
  if (!proc || proc.exitInfo) {
    if (proc?.pid) killGroup(proc.pid, 'SIGKILL'); // children of a dead leader, if any
    return proc?.exitInfo;
  }
  killGroup(proc.pid, signal);
  const timer = new Promise((r) => setTimeout(r, graceMs, 'timeout'));
  if ((await Promise.race([proc.exited, timer])) === 'timeout') {
    killGroup(proc.pid, 'SIGKILL');
    await proc.exited;
  }
  killGroup(proc.pid, 'SIGKILL'); // anything left in the group (e.g. an orphaned worker)
  return proc.exitInfo;
}

export async function stopAll(graceMs = 2000) {
  await Promise.all([...live.values()].map((p) => stopProcess(p, { graceMs })));
}

const exitCleanups = [];
let interrupted = false;

/** Registers a synchronous cleanup (e.g. removing the temp dir) that runs at exit, however it comes. */
export function onExit(fn) {
  exitCleanups.push(fn);
}

/** True once Ctrl-C/SIGTERM was received: loops stop starting new work. */
export const isInterrupted = () => interrupted;

function killAllSync() {
  for (const p of live.values()) killGroup(p.pid, 'SIGKILL');
  live.clear();
  savePids();
  for (const fn of exitCleanups.splice(0)) {
    try {
      fn();
    } catch {
      // best effort
    }
  }
  tempDirs.clear();
  savePids();
}

/** Runs a tool to completion; resolves { code, signal, stdout, stderr, secs }. */
export async function runTool(name, cmd, args, { timeoutMs = 120_000, env } = {}) {
  const t0 = process.hrtime.bigint();
  const proc = startProcess(name, cmd, args, { env });
  await proc.spawned.catch((err) => {
    throw new Error(`${name}: cannot start ${cmd}: ${err.message}`);
  });
  const timer = setTimeout(() => stopProcess(proc, { graceMs: 1000 }), timeoutMs);
  const { code, signal } = await proc.exited;
  clearTimeout(timer);
  return { code, signal, stdout: proc.stdout(), stderr: proc.stderr(), secs: Number(process.hrtime.bigint() - t0) / 1e9 };
}

/**
 * Installs the handlers that stop every started process on Ctrl-C, SIGTERM, an uncaught error and
 * exit. `onInterrupt` runs first (e.g. to say what was interrupted).
 */
export function installCleanup(onInterrupt = () => {}) {
  const onSignal = (signal) => {
    if (interrupted) {
      killAllSync();
      process.exit(130);
    }
    interrupted = true;
    onInterrupt(signal);
    process.stderr.write(`\nbench: ${signal}: stopping ${live.size} process(es) and exiting\n`);
    stopAll(1000).finally(() => process.exit(signal === 'SIGINT' ? 130 : 143));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  process.on('SIGHUP', onSignal);
  process.on('exit', killAllSync);
  const fatal = (err) => {
    process.stderr.write(`bench: ${err?.stack ?? err}\n`);
    killAllSync();
    process.exit(1);
  };
  process.on('uncaughtException', fatal);
  process.on('unhandledRejection', fatal);
}

/** A TCP port that was free on 127.0.0.1 a moment ago. */
export async function freePort() {
  const s = net.createServer();
  s.listen(0, '127.0.0.1');
  await once(s, 'listening');
  const { port } = s.address();
  await new Promise((r) => s.close(r));
  return port;
}

/** Waits until 127.0.0.1:port accepts connections; fails early if `proc` exits. */
export async function waitForPort(port, { proc, timeoutMs = 15_000 } = {}) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (proc?.exitInfo) {
      const { code, signal } = proc.exitInfo;
      throw new Error(`${proc.name} exited with ${code ?? signal} before listening on port ${port}: ${lastLine(proc.output())}\n${proc.output()}`);
    }
    const ok = await new Promise((resolve) => {
      const c = net.connect(port, '127.0.0.1');
      c.once('connect', () => {
        c.destroy();
        resolve(true);
      });
      c.once('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`${proc?.name ?? 'process'} did not listen on 127.0.0.1:${port} within ${timeoutMs} ms:\n${proc?.output() ?? ''}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** The last non-empty line of a tool's output (its error message, usually). */
export function lastLine(text) {
  return (text ?? '').split('\n').map((l) => l.trim()).filter(Boolean).pop() ?? '';
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
