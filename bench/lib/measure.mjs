// What the harness reads from /proc: CPU time of a process (all its threads, dead ones included),
// its RSS and peak RSS, its open fds, the machine's CPU load (to wait for a quiet machine) and a
// description of the machine.
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { sleep } from './procs.mjs';

let clkTck;
function ticksPerSecond() {
  if (clkTck === undefined) {
    try {
      clkTck = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      clkTck = 100;
    }
  }
  return clkTck;
}

/**
 * utime+stime of a process in seconds, from /proc/PID/stat (fields 14 and 15). For a process
 * (thread group leader) these are the sums over all its threads, including threads that exited.
 */
export function cpuSeconds(pid) {
  const { user, sys } = cpuTimes(pid);
  return user + sys;
}

/** utime and stime of a process (all its threads) in seconds: { user, sys }. */
export function cpuTimes(pid) {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // The command name (field 2) may contain spaces and parentheses: split after the last ')'.
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // f[0] is field 3 (state), so utime (14) is f[11] and stime (15) is f[12].
  return { user: Number(f[11]) / ticksPerSecond(), sys: Number(f[12]) / ticksPerSecond() };
}

/**
 * CPU seconds of each thread of a process now: Map tid → { comm, sec }. From
 * /proc/PID/task/TID/schedstat (time on the CPU in ns; user and kernel together) where the kernel
 * has it, else from the thread's stat (utime+stime, in clock ticks: 10 ms steps). A thread that
 * exits between two snapshots drops out of the later one (its time stays in cpuSeconds()).
 */
export function threadCpuSeconds(pid) {
  const out = new Map();
  let tids = [];
  try {
    tids = readdirSync(`/proc/${pid}/task`);
  } catch {
    return out;
  }
  for (const tid of tids) {
    try {
      const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
      const comm = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
      let sec;
      try {
        sec = Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ')[0]) / 1e9;
      } catch {
        const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
        sec = (Number(f[11]) + Number(f[12])) / ticksPerSecond();
      }
      out.set(Number(tid), { comm, sec });
    } catch {
      // the thread exited
    }
  }
  return out;
}

function statusKiB(pid, field) {
  const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) : undefined;
}

export const rssKiB = (pid) => statusKiB(pid, 'VmRSS');
export const peakRssKiB = (pid) => statusKiB(pid, 'VmHWM');

/** Resets the peak RSS (VmHWM) to the current RSS (`echo 5 > /proc/PID/clear_refs`, Linux ≥ 4.0). */
export function resetPeakRss(pid) {
  try {
    writeFileSync(`/proc/${pid}/clear_refs`, '5');
    return true;
  } catch {
    return false;
  }
}

export function fdCount(pid) {
  try {
    return readdirSync(`/proc/${pid}/fd`).length;
  } catch {
    return undefined;
  }
}

/** Direct children of a process (e.g. nginx's worker under its master). */
export function childPids(pid) {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

/** Soft limit on open files of this process (children inherit it). */
export function nofileLimit() {
  const m = /^Max open files\s+(\d+|unlimited)/m.exec(readFileSync('/proc/self/limits', 'utf8'));
  return !m || m[1] === 'unlimited' ? 1 << 20 : Number(m[1]);
}

function cpuTotals() {
  const line = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0];
  const v = line.trim().split(/\s+/).slice(1).map(Number);
  // user nice system idle iowait irq softirq steal (guest time is already in user/nice)
  const idle = (v[3] ?? 0) + (v[4] ?? 0);
  const total = v.slice(0, 8).reduce((a, b) => a + b, 0);
  return { idle, total };
}

/** Share of all CPUs busy over `ms` milliseconds (0..1). */
export async function cpuBusy(ms = 300) {
  const a = cpuTotals();
  await sleep(ms);
  const b = cpuTotals();
  const total = b.total - a.total;
  return total > 0 ? 1 - (b.idle - a.idle) / total : 0;
}

/**
 * Waits until the machine is quiet: total CPU busy below `threshold` over one `sampleMs` sample.
 * Gives up after `maxWaitMs`; the caller runs anyway and flags the cell noisy.
 */
export async function waitQuiet({ threshold = 0.15, sampleMs = 300, maxWaitMs = 5000 } = {}) {
  const t0 = Date.now();
  let busy = 1;
  let samples = 0;
  while (true) {
    busy = await cpuBusy(sampleMs);
    samples++;
    if (busy < threshold) return { quiet: true, busy, waitedMs: Date.now() - t0, samples };
    if (Date.now() - t0 >= maxWaitMs) return { quiet: false, busy, waitedMs: Date.now() - t0, samples };
  }
}

/** The busiest other processes right now (to explain a noisy cell): top 3 by CPU over `ms`. */
export async function topProcesses(excludePids = new Set(), ms = 300) {
  const snap = () => {
    const m = new Map();
    for (const d of readdirSync('/proc')) {
      if (!/^\d+$/.test(d)) continue;
      try {
        const stat = readFileSync(`/proc/${d}/stat`, 'utf8');
        const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
        m.set(Number(d), { comm: stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')')), ticks: Number(f[11]) + Number(f[12]) });
      } catch {
        // gone
      }
    }
    return m;
  };
  const a = snap();
  await sleep(ms);
  const b = snap();
  const out = [];
  for (const [pid, v] of b) {
    if (excludePids.has(pid) || pid === process.pid) continue;
    const d = v.ticks - (a.get(pid)?.ticks ?? v.ticks);
    if (d > 0) out.push({ pid, comm: v.comm, cpu: d / ticksPerSecond() / (ms / 1000) });
  }
  return out.sort((x, y) => y.cpu - x.cpu).slice(0, 3);
}

/** A one-line /proc file, trimmed; undefined when it cannot be read. */
function readProc(path) {
  try {
    return readFileSync(path, 'utf8').trim() || undefined;
  } catch {
    return undefined;
  }
}

export function machineInfo() {
  const cpuinfo = readFileSync('/proc/cpuinfo', 'utf8');
  const model = /^model name\s*:\s*(.+)$/m.exec(cpuinfo)?.[1]?.trim() ?? os.cpus()[0]?.model ?? 'unknown';
  let virt = '';
  try {
    // --vm: the hypervisor (a container inside a VM would otherwise report only the container).
    virt = execFileSync('systemd-detect-virt', ['--vm'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    if (virt === 'none') virt = '';
  } catch {
    virt = /hypervisor/.test(cpuinfo) ? 'vm' : '';
  }
  return {
    cpus: os.cpus().length,
    cpuModel: model,
    virtualization: virt || undefined,
    kernel: os.release(),
    // Both change bulk results a lot: bbr without fq paces every socket with a timer.
    tcpCongestion: readProc('/proc/sys/net/ipv4/tcp_congestion_control'),
    qdisc: readProc('/proc/sys/net/core/default_qdisc'),
    memGiB: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
    nofile: nofileLimit(),
    hostname: os.hostname(),
  };
}
