#!/usr/bin/env node
// `npm run bench`: epoxy against haproxy, http-proxy and a direct baseline, with wrk and ab.
// See bench/README.md. Sets the machine up (apt packages, epoxy build), starts an nginx backend and
// every contender as processes of its own, runs the scenarios interleaved, and writes
// bench/results/<timestamp>.json, bench/results/<timestamp>/{results.md,*.svg} and
// bench/results/latest/.
import { spawn } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startBackend, TLS_NAME } from './lib/backend.mjs';
import { abArgs, abCell, idleCell, WRK_TLS_SCRIPT, wrkArgs, wrkCell } from './lib/cells.mjs';
import { cellLabel, CONTENDERS, haproxyLimits, isThreaded, startContender } from './lib/contenders.mjs';
import { machineInfo, nofileLimit, topProcesses, waitQuiet } from './lib/measure.mjs';
import { installCleanup, isInterrupted, lastLine, onExit, reapLeftovers, rememberTempDir, runTool, stopAll } from './lib/procs.mjs';
import { compact, fmt, goals, inspectionCost, markdown, summarizeScenario, threadingCost } from './lib/report.mjs';
import { PROFILES, SCENARIOS } from './lib/scenarios.mjs';
import { scenarioCharts } from './lib/svg.mjs';
import { ensureEpoxyBuilt, ensureSystemTools, epoxyHttpAvailable, ROOT, versions } from './lib/tools.mjs';

const HELP = `Usage: npm run bench -- [options]

  --quick              smoke run: 1 rep, 1–2 s per wrk run, no warm-up, ab -n 5000, 1,000 idle connections (~1 min)
  --reps N             repetitions per cell (default 3; 1 with --quick)
  --seconds S          duration of each wrk run, whole seconds (default 5; 6 for 100 MiB)
  --only a,b           only these scenarios: ${SCENARIOS.map((s) => s.id).join(', ')}
  --contenders a,b     only these contenders: ${Object.keys(CONTENDERS).join(', ')}
  --threads N[,M,...]  epoxy engine.threads and haproxy nbthread (default 1 — never 'auto'); a list runs
                       every epoxy/haproxy contender at each count, interleaved, e.g. --threads 1,2
  --pin                pin the proxy to the last CPU (the last N with --threads up to N) and nginx/wrk/ab to the others (taskset)
  --proxy-cpus L       with --pin: the proxy's CPUs (taskset list, e.g. 8-15), instead of the last N
  --client-cpus L      with --pin: nginx's, wrk's and ab's CPUs (e.g. 16-47), instead of the others
  --wrk-threads N      wrk -tN (default 1); with --backend-workers and --connections, for machines with more CPUs
  --backend-workers N  nginx worker_processes (default 1)
  --connections N      override every wrk/ab scenario's connection count (-c)
  --quiet-threshold F  machine counts as quiet below this CPU share (default 0.15)
  --no-setup           do not check/install the system tools (apt)
  --no-build           measure the existing build of epoxy even if it is older than its sources
  --build              rebuild epoxy (npm run build) before measuring
  --latest / --no-latest  copy this run to bench/results/latest/ (default: only full, unfiltered runs)
  -h, --help           this text
`;

function parseArgs(argv) {
  const o = { quick: false, pin: false, setup: true, build: 'auto', quietThreshold: 0.15, latest: undefined };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const value = () => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${a} needs a value`);
      return v;
    };
    if (a === '--quick') o.quick = true;
    else if (a === '--reps') o.reps = Number(value());
    else if (a === '--seconds') o.seconds = Math.max(1, Math.round(Number(value())));
    else if (a === '--only') o.only = value().split(',');
    else if (a === '--contenders') o.contenders = value().split(',');
    else if (a === '--threads') o.threads = value().split(',').map((t) => Number(t.trim()));
    else if (a === '--pin') o.pin = true;
    else if (a === '--proxy-cpus') o.proxyCpus = value();
    else if (a === '--client-cpus') o.clientCpus = value();
    else if (a === '--wrk-threads') o.wrkThreads = Number(value());
    else if (a === '--backend-workers') o.backendWorkers = Number(value());
    else if (a === '--connections') o.connections = Number(value());
    else if (a === '--quiet-threshold') o.quietThreshold = Number(value());
    else if (a === '--no-setup') o.setup = false;
    else if (a === '--no-build') o.build = 'never';
    else if (a === '--build') o.build = 'always';
    else if (a === '--latest') o.latest = true;
    else if (a === '--no-latest') o.latest = false;
    else if (a === '-h' || a === '--help') o.help = true;
    else throw new Error(`unknown option ${a}\n\n${HELP}`);
  }
  for (const id of o.only ?? []) if (!SCENARIOS.some((s) => s.id === id)) throw new Error(`unknown scenario "${id}"`);
  for (const id of o.contenders ?? []) if (!CONTENDERS[id]) throw new Error(`unknown contender "${id}"`);
  if (o.reps !== undefined && !(o.reps >= 1)) throw new Error('--reps must be ≥ 1');
  for (const t of o.threads ?? []) if (!Number.isInteger(t) || t < 1 || t > 64) throw new Error(`--threads: each count must be a whole number from 1 to 64, got "${t}"`);
  o.threads = [...new Set(o.threads ?? [1])].sort((a, b) => a - b);
  for (const k of ['wrkThreads', 'backendWorkers', 'connections']) if (o[k] !== undefined && !(Number.isInteger(o[k]) && o[k] >= 1)) throw new Error(`--${k.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)} must be a whole number ≥ 1`);
  if ((o.proxyCpus || o.clientCpus) && !o.pin) throw new Error('--proxy-cpus and --client-cpus need --pin');
  if (o.connections !== undefined && o.wrkThreads !== undefined && o.connections < o.wrkThreads) throw new Error('--connections must be at least --wrk-threads (wrk gives each thread its connections)');
  return o;
}

/** 5,000 idle connections need ~10,000 fds in the proxy: re-run under a higher `ulimit -n` if needed. */
function reexecWithMoreFds() {
  if (nofileLimit() >= 16_384 || process.env.EPOXY_BENCH_REEXEC) return false;
  const child = spawn(
    'bash',
    ['-c', 'ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null; exec "$@"', 'bash', process.execPath, ...process.argv.slice(1)],
    { stdio: 'inherit', env: { ...process.env, EPOXY_BENCH_REEXEC: '1' } },
  );
  process.on('SIGINT', () => {}); // the terminal sends it to the child too; it cleans up
  for (const sig of ['SIGTERM', 'SIGHUP']) process.on(sig, () => child.kill(sig));
  child.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
  return true;
}

const log = (s) => process.stderr.write(`${s}\n`);
const pad = (s, n) => String(s).padEnd(n);

function describeCell(kind, m) {
  if (!m) return '';
  if (kind === 'idle') return `${fmt(m.bytesPerConn, 0)} bytes/conn, ${fmt(m.fdsPerConn, 2)} fds/conn, RSS ${fmt(m.rssBeforeKiB / 1024, 1)} → ${fmt(m.rssAfterKiB / 1024, 1)} MiB`;
  const cpu = kind === 'bytes' ? `${fmt(m.cpuSecPerGB, 3)} CPU s/GB` : `${fmt(m.cpuUsPerReq, 1)} µs/req`;
  const main = kind === 'bytes' ? `${fmt(m.mbps, 0)} MB/s` : `${fmt(m.rps, 0)} req/s`;
  return `${pad(main, 14)} ${pad(m.cpuSec === undefined ? '(no proxy)' : cpu, 18)} p50 ${fmt(m.p50Ms, 2)} ms  p99 ${fmt(m.p99Ms, 2)} ms`;
}

/** The console's per-thread part: each thread's share of the load (requests, or CPU in TCP mode). */
function describeThreads(t) {
  if (!t?.threads || t.threads.length < 2) return '';
  const shares = t.threads.map((w) => (t.by === 'requests' ? w.requestShare : w.cpuShare)).map((x) => (Number.isFinite(x) ? Math.round(x * 100) : '?'));
  return `  threads ${shares.join('/')}% of ${t.by === 'requests' ? 'requests' : 'CPU'}`;
}

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  if (opts.help) {
    process.stdout.write(HELP);
    return;
  }
  if (reexecWithMoreFds()) return;
  const t0 = Date.now();
  const startedAt = new Date().toISOString();
  const runId = startedAt.replace(/\.\d+Z$/, 'Z').replace(/:/g, '-');
  let current = 'setup';
  installCleanup(() => log(`bench: interrupted during ${current}`));
  reapLeftovers(log);

  if (opts.setup) ensureSystemTools();
  ensureEpoxyBuilt(opts.build);

  const profileName = opts.quick ? 'quick' : 'full';
  const profile = { ...PROFILES[profileName] };
  if (opts.reps) profile.reps = opts.reps;
  if (opts.seconds) profile.wrkSec = profile.wrkBigSec = opts.seconds;
  const nofile = nofileLimit();
  const { maxconn, maxpipes } = haproxyLimits(nofile);
  const idleLimit = Math.min(Math.floor((nofile - 500) / 2.2), maxconn - 100);
  if (profile.idleConns > idleLimit) {
    log(`bench: fd limit ${nofile} allows only ${idleLimit} idle connections (wanted ${profile.idleConns})`);
    profile.idleConns = idleLimit;
  }
  const cpus = machineInfo().cpus;
  // --pin: the proxy on the last K CPUs (K = the largest --threads, leaving at least one), the
  // load generator and the backend on the others.
  const proxyCpuCount = Math.max(1, Math.min(Math.max(...opts.threads), cpus - 1));
  const pin =
    opts.pin && cpus > 1
      ? {
          proxyCpus: opts.proxyCpus ?? (proxyCpuCount === 1 ? String(cpus - 1) : `${cpus - proxyCpuCount}-${cpus - 1}`),
          clientCpus: opts.clientCpus ?? (cpus - proxyCpuCount > 1 ? `0-${cpus - proxyCpuCount - 1}` : '0'),
        }
      : {};
  if (opts.pin && !opts.proxyCpus && Math.max(...opts.threads) > proxyCpuCount) log(`bench: warning: --pin gives the proxy ${proxyCpuCount} CPU(s) for up to ${Math.max(...opts.threads)} threads`);
  const httpProbe = epoxyHttpAvailable();
  const scenarios = SCENARIOS.filter((s) => !opts.only || opts.only.includes(s.id));
  const defaultThreads = opts.threads.length === 1 && opts.threads[0] === 1;
  const filtered = Boolean(opts.only || opts.contenders || opts.reps || opts.seconds || !defaultThreads || opts.wrkThreads || opts.backendWorkers || opts.connections);
  const updateLatest = opts.latest ?? (!opts.quick && !filtered);

  const meta = {
    id: runId,
    startedAt,
    profile: profileName,
    reps: profile.reps,
    machine: machineInfo(),
    versions: versions(),
    options: { ...opts, ...pin, pin: Boolean(pin.proxyCpus), quietThreshold: opts.quietThreshold, haproxyMaxconn: maxconn, haproxyMaxpipes: maxpipes },
    profileSettings: profile,
    epoxyHttp: httpProbe,
  };
  log(`bench: ${profileName} run ${runId}: ${scenarios.length} scenarios, ${profile.reps} rep(s) each; ${meta.machine.cpus} CPUs, kernel ${meta.machine.kernel}, haproxy ${meta.versions.haproxy}; epoxy engine.threads = haproxy nbthread = ${opts.threads.join(', ')}`);
  if (opts.threads.some((t) => t > meta.machine.cpus)) log(`bench: warning: --threads ${opts.threads.join(',')} asks for more threads than the ${meta.machine.cpus} CPUs (which wrk and nginx share too)`);
  if (!httpProbe.available) log(`bench: epoxy HTTP cells: n/a (${httpProbe.reason})`);

  const tmp = mkdtempSync(join(tmpdir(), 'epoxy-bench-'));
  rememberTempDir(tmp);
  onExit(() => rmSync(tmp, { recursive: true, force: true }));
  const results = [];
  try {
    current = 'starting the nginx backend';
    // The TLS listeners (and their certificate) only when a TLS scenario runs.
    const tls = scenarios.some((s) => s.tls);
    const backend = await startBackend(tmp, { cpus: pin.clientCpus, workers: opts.backendWorkers ?? 1, tls });
    log(`bench: nginx backend on 127.0.0.1:${backend.port}${tls ? `, TLS on ${backend.tlsPort}` : ''} (worker pid${backend.workerPids.length > 1 ? 's' : ''} ${backend.workerPids.join(', ')}), files in ${tmp}/www`);
    for (const def of scenarios) {
      if (isInterrupted()) return;
      current = `scenario ${def.id}`;
      results.push(await runScenario(def, { profile, backend, opts, pin, nofile, httpProbe, tmp }));
    }
  } finally {
    current = 'cleanup';
    await stopAll();
    rmSync(tmp, { recursive: true, force: true });
  }

  meta.elapsedSec = (Date.now() - t0) / 1000;
  const result = { meta, goals: goals(results, opts.threads), inspection: inspectionCost(results, opts.threads), threading: threadingCost(results), scenarios: results };
  for (const sc of results) sc.charts = scenarioCharts(sc, meta);
  const outDir = join(ROOT, 'bench/results');
  const runDir = join(outDir, runId);
  mkdirSync(runDir, { recursive: true });
  writeFileSync(join(outDir, `${runId}.json`), JSON.stringify({ ...result, scenarios: results.map((s) => ({ ...s, charts: s.charts.map((c) => c.file) })) }, null, 1));
  const md = markdown(result);
  writeFileSync(join(runDir, 'results.md'), md);
  for (const sc of results) for (const c of sc.charts) writeFileSync(join(runDir, c.file), c.svg);
  writeFileSync(join(runDir, 'summary.json'), JSON.stringify(compact(result), null, 1));
  if (updateLatest) {
    const latest = join(outDir, 'latest');
    rmSync(latest, { recursive: true, force: true });
    cpSync(runDir, latest, { recursive: true });
  }
  process.stdout.write(`\n${md}\n`);
  log(`bench: done in ${Math.round(meta.elapsedSec)} s`);
  log(`bench: raw results  bench/results/${runId}.json`);
  log(`bench: report       bench/results/${runId}/results.md (${readdirSync(runDir).filter((f) => f.endsWith('.svg')).length} SVG charts)`);
  log(updateLatest ? 'bench: copied to    bench/results/latest/' : `bench: bench/results/latest/ not updated (${opts.quick ? 'quick' : 'partial'} run; --latest forces it)`);
}

const HOOK_NOT_CALLED = 'the select hook is not called in this mode yet';

/** A hook contender whose hook never ran measures plain epoxy under a false name: make it n/a. */
function checkHook(cell, c, r, sc) {
  if (!c?.hookCalled || r.error || c.hookCalled()) return true;
  cell.available = false;
  cell.reason = HOOK_NOT_CALLED;
  cell.reps = [];
  log(`   ${cellLabel(cell, sc)}: n/a (${HOOK_NOT_CALLED}: no call after a whole run)`);
  return false;
}

async function runScenario(def, { profile, backend, opts, pin, nofile, httpProbe, tmp }) {
  const contenders = def.contenders.filter((id) => !opts.contenders || opts.contenders.includes(id));
  // One cell per contender and thread count (epoxy and haproxy at each of --threads, grouped by
  // count; direct and http-proxy, single-threaded, once).
  const variants = [];
  for (const [i, threads] of opts.threads.entries()) {
    for (const id of contenders) {
      if (isThreaded(CONTENDERS[id])) variants.push({ contender: id, threads, key: `${id}@${threads}` });
      else if (i === 0) variants.push({ contender: id, threads: undefined, key: id });
    }
  }
  const seconds = def.seconds?.(profile);
  const requests = def.requests?.(profile);
  const idleConns = def.tool === 'idle' ? def.connections(profile) : undefined;
  const connections = def.tool === 'idle' ? undefined : (opts.connections ?? def.connections);
  const wrkThreads = Math.min(opts.wrkThreads ?? 1, connections ?? 1);
  const wrkExtra = { headers: def.headers, script: def.tls ? WRK_TLS_SCRIPT : undefined };
  const command =
    def.tool === 'wrk'
      ? `wrk -t${wrkThreads} -c${connections} -d${seconds}s --latency${(def.headers ?? []).map((h) => ` -H '${h}'`).join('')} ${def.tls ? `https://${TLS_NAME}:PORT` : ''}${def.path}`
      : def.tool === 'ab'
        ? `ab -n ${requests} -c ${connections} ${def.path} (no keep-alive)`
        : `${idleConns} idle connections after one GET ${def.path} each`;
  const sc = {
    id: def.id,
    title: def.title,
    about: def.about,
    tool: def.tool,
    kind: def.kind,
    baseline: def.baseline,
    threadCounts: opts.threads,
    // Labels name the thread count unless the run is the default single-threaded one.
    labelThreads: !(opts.threads.length === 1 && opts.threads[0] === 1),
    command,
    cells: variants.map((v) => {
      const c = CONTENDERS[v.contender];
      const available = !c.needsEpoxyHttp || httpProbe.available;
      return { ...v, available, reason: available ? undefined : httpProbe.reason, reps: [] };
    }),
  };
  const name = (cell) => cellLabel(cell, sc);
  const width = Math.max(20, ...sc.cells.map((c) => name(c).length));
  log(`\n== ${def.id}: ${def.title} — ${command}`);
  for (const cell of sc.cells) if (!cell.available) log(`   ${pad(name(cell), width)} n/a (${cell.reason})`);
  const live = sc.cells.filter((c) => c.available);
  const startOpts = { backendPort: backend.port, tlsBackendPort: backend.tlsPort, nofile, proxyCpus: pin.proxyCpus, markerDir: tmp };
  const quietOpts = { threshold: opts.quietThreshold, sampleMs: profile.quietSampleMs, maxWaitMs: profile.quietMaxWaitMs };
  const url = (port) => (def.tls ? `https://${TLS_NAME}:${port}${def.path}` : `http://127.0.0.1:${port}${def.path}`);

  const quietCheck = async (excluded) => {
    const q = await waitQuiet(quietOpts);
    if (!q.quiet) q.top = await topProcesses(excluded);
    return q;
  };
  const printRep = (cell, rep, r) => {
    if (isInterrupted()) return;
    const q = r.quiet;
    const qs = q ? (q.quiet ? `quiet ${Math.round(q.busy * 100)}%` : `NOISY ${Math.round(q.busy * 100)}%${q.top?.length ? ` (${q.top.map((t) => `${t.comm} ${Math.round(t.cpu * 100)}%`).join(', ')})` : ''}`) : '';
    log(`   rep ${rep}/${profile.reps} ${pad(name(cell), width)} ${r.error ? `ERROR ${r.error.split('\n')[0]}` : `${describeCell(def.kind, r.metrics)}${describeThreads(r.threads)}`}  [${qs}]`);
  };

  if (def.tool === 'idle') {
    // A fresh process per rep: memory already grown by an earlier run would hide the growth.
    for (let rep = 1; rep <= profile.reps; rep++) {
      for (const cell of live) {
        if (!cell.available) continue;
        if (isInterrupted()) return summarizeScenario(sc);
        const r = { rep };
        let c;
        try {
          c = await startContender(CONTENDERS[cell.contender], { ...startOpts, threads: cell.threads });
          r.quiet = await quietCheck(new Set([backend.proc.pid, ...backend.workerPids, c.pid]));
          Object.assign(r, await idleCell({ port: c.port, n: idleConns, path: def.path, pid: c.pid, settleMs: profile.settleMs }));
        } catch (err) {
          r.error = String(err?.message ?? err);
        } finally {
          await c?.stop();
        }
        if (!checkHook(cell, c, r, sc)) continue;
        cell.reps.push(r);
        printRep(cell, rep, r);
      }
    }
    return summarizeScenario(sc);
  }

  const running = new Map();
  const warmupErrors = new Map();
  try {
    for (const cell of live) {
      try {
        running.set(cell.key, await startContender(CONTENDERS[cell.contender], { ...startOpts, threads: cell.threads }));
      } catch (err) {
        cell.startError = String(err?.message ?? err);
        log(`   ${name(cell)}: failed to start: ${cell.startError.split('\n')[0]}`);
      }
    }
    // Warm-up (not measured): JIT, page cache, pools.
    for (const [key, c] of running) {
      if (isInterrupted()) break;
      if (def.tool === 'wrk' ? !profile.warmupSec : !profile.abWarmupN) break;
      const args = def.tool === 'wrk' ? wrkArgs({ connections, threads: wrkThreads, seconds: profile.warmupSec, url: url(c.port), timeout: def.wrkTimeout, ...wrkExtra }) : abArgs({ connections, requests: profile.abWarmupN, url: url(c.port) });
      const w = await runTool(`${def.tool} warm-up`, def.tool, args, { timeoutMs: 120_000 });
      if (w.code !== 0) {
        // A contender that cannot get through the warm-up would fail every rep the same way
        // (e.g. a connection it never closes makes ab wait for its timeout): skip its reps.
        const why = lastLine(w.stderr) || lastLine(w.stdout);
        warmupErrors.set(key, `in the warm-up (reps skipped): ${def.tool}: ${why}`);
        log(`   ${name(sc.cells.find((x) => x.key === key))}: failed ${warmupErrors.get(key)}`);
      }
    }
    const excluded = new Set([backend.proc.pid, ...backend.workerPids, ...[...running.values()].map((c) => c.pid).filter(Boolean)]);
    for (let rep = 1; rep <= profile.reps; rep++) {
      for (const cell of live) {
        if (!cell.available) continue;
        if (isInterrupted()) return summarizeScenario(sc);
        const r = { rep };
        const c = running.get(cell.key);
        if (!c) {
          r.error = `not started: ${cell.startError.split('\n')[0]}`;
        } else if (warmupErrors.has(cell.key)) {
          r.error = warmupErrors.get(cell.key);
        } else if (c.proc?.exitInfo) {
          r.error = `${cell.contender} exited with ${c.proc.exitInfo.code ?? c.proc.exitInfo.signal} during the scenario: ${lastLine(c.proc.output())}`;
        } else {
          try {
            r.quiet = await quietCheck(excluded);
            const common = { url: url(c.port), connections, pid: c.pid, backendPid: backend.workerPids, clientCpus: pin.clientCpus, kind: CONTENDERS[cell.contender].kind, adminPort: c.adminPort };
            Object.assign(r, def.tool === 'wrk' ? await wrkCell({ ...common, seconds, timeout: def.wrkTimeout, wrkThreads, ...wrkExtra }) : await abCell({ ...common, requests }));
          } catch (err) {
            r.error = String(err?.message ?? err);
          }
        }
        if (!checkHook(cell, c, r, sc)) continue;
        cell.reps.push(r);
        printRep(cell, rep, r);
      }
    }
  } finally {
    await Promise.all([...running.values()].map((c) => c.stop()));
  }
  return summarizeScenario(sc);
}

main().catch(async (err) => {
  log(`bench: ${err?.stack ?? err}`);
  await stopAll();
  process.exit(1);
});
