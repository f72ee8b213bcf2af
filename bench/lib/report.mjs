// From repetitions to the report: medians and spreads per cell, flags, ratios to the scenario's
// haproxy baseline, and the Markdown tables (the goals of the benchmark issue: goals.mjs).
import { cellLabel, CONTENDERS } from './contenders.mjs';
import { goals } from './goals.mjs';
import { ratio, summarize } from './stats.mjs';

export { goals };

export const SPREAD_LIMIT = 0.25;

/** The two headline metrics of a scenario kind (the charts draw these). */
export const METRICS = {
  requests: [
    { key: 'rps', label: 'requests/s', unit: 'req/s', higherIsBetter: true, chart: 'throughput' },
    { key: 'cpuUsPerReq', label: 'proxy CPU per request', unit: 'µs/req', higherIsBetter: false, chart: 'cpu' },
  ],
  bytes: [
    { key: 'mbps', label: 'throughput', unit: 'MB/s', higherIsBetter: true, chart: 'throughput' },
    { key: 'cpuSecPerGB', label: 'proxy CPU per GB', unit: 'CPU s/GB', higherIsBetter: false, chart: 'cpu' },
  ],
  idle: [{ key: 'bytesPerConn', label: 'RSS growth per idle connection', unit: 'bytes/conn', higherIsBetter: false, chart: 'memory' }],
};

const ALL_KEYS = ['rps', 'p50Ms', 'p99Ms', 'meanMs', 'mbps', 'cpuUsPerReq', 'cpuSecPerGB', 'peakRssKiB', 'backendCpuUsPerReq', 'backendCpuSecPerGB', 'bytesPerConn', 'fdsPerConn', 'rssBeforeKiB', 'rssAfterKiB', 'cpuUsPerConn', 'connections', 'jsCpuUsPerReq', 'engineCpuUsPerReq', 'otherCpuUsPerReq', 'minThreadShare', 'maxThreadShare', 'logsDropped', 'sysCpuShare', 'loopTurnsPerReq', 'jsBusyShare'];

/** The issue's balance goal at 2 threads, 35–65 % each: the share 1/N ± 30 % of it for N threads. */
export const BALANCE_TOLERANCE = 0.3;

/**
 * The cell a cell's ratios are taken against: the scenario's baseline contender at the same
 * thread count (a single-threaded contender — direct, http-proxy — against the lowest count's).
 */
export function baselineCell(sc, cell) {
  const threads = cell.threads ?? sc.threadCounts?.[0];
  return sc.cells.find((c) => c.contender === sc.baseline && (c.threads === undefined || threads === undefined || c.threads === threads));
}

/** The same contender at the lowest thread count of the run, when that is not `cell` itself. */
function oneThreadCell(sc, cell) {
  const lowest = sc.threadCounts?.[0];
  if (cell.threads === undefined || lowest === undefined || cell.threads === lowest) return undefined;
  return sc.cells.find((c) => c.contender === cell.contender && c.threads === lowest);
}

/** Each thread's share of the load, median per thread over the reps: [{ id, share }], and by what. */
function threadShares(cell) {
  const reps = cell.reps.filter((r) => r.threads?.threads?.length);
  if (!reps.length) return undefined;
  const by = reps[0].threads.by;
  const ids = [...new Set(reps.flatMap((r) => r.threads.threads.map((t) => t.id)))].sort((a, b) => a - b);
  const shares = ids.map((id) => {
    const v = reps.map((r) => r.threads.threads.find((t) => t.id === id)).map((t) => (by === 'requests' ? t?.requestShare : t?.cpuShare));
    return { id, share: summarize(v)?.median };
  });
  const accepted = ids.map((id) => summarize(reps.map((r) => r.threads.threads.find((t) => t.id === id)?.accepted))?.median);
  return { by, shares, accepted: accepted.every((a) => a === undefined) ? undefined : accepted };
}

/** Adds `stats` (per metric: median, min, max, spread), `flags` and `ratios` to every cell of a scenario. */
export function summarizeScenario(scenario) {
  const metrics = METRICS[scenario.kind];
  for (const cell of scenario.cells) {
    cell.flags = [];
    if (!cell.available) continue;
    const ok = cell.reps.filter((r) => r.metrics);
    cell.stats = {};
    for (const key of ALL_KEYS) {
      const s = summarize(ok.map((r) => r.metrics[key]));
      if (s) cell.stats[key] = s;
    }
    if (ok.length < cell.reps.length) {
      const first = cell.reps.find((r) => r.error)?.error.split('\n')[0];
      cell.failed = ok.length === 0 ? first : undefined;
      cell.flags.push(ok.length === 0 ? `failed: ${first}` : `${cell.reps.length - ok.length} of ${cell.reps.length} reps failed: ${first}`);
    }
    if (cell.reps.some((r) => r.quiet && !r.quiet.quiet)) {
      const worst = Math.max(...cell.reps.map((r) => r.quiet?.busy ?? 0));
      cell.flags.push(`noisy (machine ${Math.round(worst * 100)}% busy before a rep)`);
    }
    for (const m of metrics) {
      const s = cell.stats[m.key];
      if (s && s.n > 1 && s.spread > SPREAD_LIMIT) cell.flags.push(`${m.unit} spread ${Math.round(s.spread * 100)}%`);
    }
    if (cell.reps.some((r) => r.errors)) cell.flags.push('errors: ' + [...new Set(cell.reps.map((r) => r.errors).filter(Boolean))].join('; '));
    cell.balance = threadShares(cell);
    const n = cell.balance?.shares.length ?? 0;
    if (n > 1) {
      const [lo, hi] = [(1 - BALANCE_TOLERANCE) / n, (1 + BALANCE_TOLERANCE) / n];
      const worst = [cell.stats.minThreadShare?.min, cell.stats.maxThreadShare?.max];
      if (worst[0] < lo || worst[1] > hi) cell.flags.push(`thread balance: a thread at ${fmt(100 * (worst[0] < lo ? worst[0] : worst[1]), 0)}% of ${cell.balance.by === 'requests' ? 'requests' : 'CPU'} (goal ${fmt(100 * lo, 0)}–${fmt(100 * hi, 0)}%)`);
    }
    if (cell.stats.logsDropped?.max > 0) cell.flags.push(`access log: ${fmt(cell.stats.logsDropped.max, 0)} lines dropped in a run (JS fell behind)`);
  }
  for (const cell of scenario.cells) {
    cell.ratios = {};
    const base = baselineCell(scenario, cell);
    if (!cell.stats || !base?.stats) continue;
    for (const m of metrics) cell.ratios[m.key] = ratio(cell.stats[m.key]?.median, base.stats[m.key]?.median);
  }
  // Cost of threading: the same contender at N threads against itself at the lowest count.
  for (const cell of scenario.cells) {
    const one = oneThreadCell(scenario, cell);
    if (!cell.stats || !one?.stats) continue;
    cell.vsOneThread = { threads: one.threads };
    for (const m of metrics) cell.vsOneThread[m.key] = ratio(cell.stats[m.key]?.median, one.stats[m.key]?.median);
  }
  return scenario;
}

/**
 * The cost of SNI inspection, per proxy and thread count: its CPU µs per connection by SNI minus
 * the same proxy's without inspection, in tls-conn (one request per connection, so µs/request is
 * µs/connection). Medians of each; a difference of two noisy numbers, so also each one's min–max.
 */
export function inspectionCost(scenarios, threadCounts = [1]) {
  const sc = scenarios.find((s) => s.id === 'tls-conn');
  if (!sc) return [];
  const rows = [];
  for (const t of threadCounts) {
    for (const [proxy, sni, plain] of [['epoxy', 'epoxy-sni', 'epoxy-tls-plain'], ['haproxy', 'haproxy-sni', 'haproxy-tls-plain']]) {
      const cell = (id) => sc.cells.find((c) => c.contender === id && (c.threads === undefined || c.threads === t))?.stats?.cpuUsPerReq;
      const [a, b] = [cell(sni), cell(plain)];
      if (!a || !b) continue;
      rows.push({ proxy, threads: t, sni: a, plain: b, costUs: a.median - b.median, share: (a.median - b.median) / b.median });
    }
  }
  return rows;
}

/**
 * The cost of threading: for every epoxy and haproxy cell at N > the lowest thread count, its
 * throughput and CPU per request (or per GB) against the same contender at the lowest count, on
 * the same load. Only a run with two or more counts (`--threads 1,2`) has rows.
 */
export function threadingCost(scenarios) {
  const rows = [];
  for (const sc of scenarios) {
    const [tput, cpu] = METRICS[sc.kind] ?? [];
    if (!cpu) continue;
    for (const cell of sc.cells) {
      if (!cell.vsOneThread) continue;
      const one = sc.cells.find((c) => c.contender === cell.contender && c.threads === cell.vsOneThread.threads);
      rows.push({
        scenario: sc.id,
        contender: cell.contender,
        threads: cell.threads,
        vsThreads: cell.vsOneThread.threads,
        unit: cpu.unit,
        cpu: cell.stats[cpu.key]?.median,
        cpuOne: one?.stats?.[cpu.key]?.median,
        cpuRatio: cell.vsOneThread[cpu.key],
        throughputUnit: tput.unit,
        throughputRatio: cell.vsOneThread[tput.key],
      });
    }
  }
  return rows;
}

// ---- formatting ----

export function fmt(v, digits) {
  if (v === undefined || v === null || !Number.isFinite(v)) return '–';
  const a = Math.abs(v);
  const d = digits ?? (a >= 1000 ? 0 : a >= 100 ? 0 : a >= 10 ? 1 : a >= 1 ? 2 : 3);
  return v.toLocaleString('en-US', { minimumFractionDigits: d, maximumFractionDigits: d });
}

export const fmtRatio = (r) => (r === undefined || !Number.isFinite(r) ? '–' : `${r.toFixed(2)}×`);

/** "median (min–max)" when there is more than one rep. */
function spreadCell(s, digits) {
  if (!s) return '–';
  if (s.n < 2) return fmt(s.median, digits);
  return `${fmt(s.median, digits)} (${fmt(s.min, digits)}–${fmt(s.max, digits)})`;
}

const label = (id) => CONTENDERS[id]?.label ?? id;
const pct = (x, digits = 1) => (Number.isFinite(x) ? `${fmt(100 * x, digits)}%` : '–');

function table(header, rows) {
  return [`| ${header.join(' | ')} |`, `|${header.map((h, i) => (i === 0 ? ':---' : '---:')).join('|')}|`, ...rows.map((r) => `| ${r.join(' | ')} |`)].join('\n');
}

function scenarioTable(sc) {
  const baseLabel = label(sc.baseline);
  const headers = {
    requests: ['contender', 'req/s', `vs ${baseLabel}`, sc.tool === 'ab' ? 'latency ms: mean / p50 / p99' : 'latency ms: p50 / p99', 'MB/s', 'proxy CPU µs/req', `vs ${baseLabel}`, 'peak RSS MiB', 'nginx CPU µs/req', 'flags'],
    bytes: ['contender', 'MB/s', `vs ${baseLabel}`, 'latency ms: p50 / p99', 'req/s', 'proxy CPU s/GB', `vs ${baseLabel}`, 'peak RSS MiB', 'nginx CPU s/GB', 'flags'],
    idle: ['contender', 'RSS bytes per idle conn', `vs ${baseLabel}`, 'RSS MiB before → after', 'fds per conn', 'flags'],
  };
  const rows = [];
  for (const c of sc.cells) {
    const name = c.contender === sc.baseline ? `**${cellLabel(c, sc)}**` : cellLabel(c, sc);
    const s = c.stats ?? {};
    const flags = c.flags?.length ? c.flags.join('; ').replace(/\|/g, '\\|') : '';
    if (!c.available) {
      rows.push([name, `n/a (${c.reason})`, ...Array(headers[sc.kind].length - 2).fill('')]);
      continue;
    }
    if (Object.keys(s).length === 0) {
      rows.push([name, 'failed', ...Array(headers[sc.kind].length - 3).fill(''), flags]);
      continue;
    }
    const noProxy = !CONTENDERS[c.contender]?.kind ? '– (no proxy)' : '–';
    if (sc.kind === 'requests') {
      rows.push([
        name,
        spreadCell(s.rps, 0),
        fmtRatio(c.ratios.rps),
        sc.tool === 'ab' ? `${fmt(s.meanMs?.median, 2)} / ${fmt(s.p50Ms?.median, 0)} / ${fmt(s.p99Ms?.median, 0)}` : `${fmt(s.p50Ms?.median, 2)} / ${fmt(s.p99Ms?.median, 2)}`,
        fmt(s.mbps?.median, 0),
        s.cpuUsPerReq === undefined ? noProxy : spreadCell(s.cpuUsPerReq, 1),
        fmtRatio(c.ratios.cpuUsPerReq),
        fmt(s.peakRssKiB ? s.peakRssKiB.median / 1024 : undefined, 1),
        fmt(s.backendCpuUsPerReq?.median, 1),
        flags,
      ]);
    } else if (sc.kind === 'bytes') {
      rows.push([
        name,
        spreadCell(s.mbps, 0),
        fmtRatio(c.ratios.mbps),
        `${fmt(s.p50Ms?.median, 1)} / ${fmt(s.p99Ms?.median, 1)}`,
        fmt(s.rps?.median, 1),
        s.cpuSecPerGB === undefined ? noProxy : spreadCell(s.cpuSecPerGB, 3),
        fmtRatio(c.ratios.cpuSecPerGB),
        fmt(s.peakRssKiB ? s.peakRssKiB.median / 1024 : undefined, 1),
        fmt(s.backendCpuSecPerGB?.median, 3),
        flags,
      ]);
    } else {
      rows.push([
        name,
        spreadCell(s.bytesPerConn, 0),
        fmtRatio(c.ratios.bytesPerConn),
        `${fmt(s.rssBeforeKiB ? s.rssBeforeKiB.median / 1024 : undefined, 1)} → ${fmt(s.rssAfterKiB ? s.rssAfterKiB.median / 1024 : undefined, 1)}`,
        fmt(s.fdsPerConn?.median, 2),
        flags,
      ]);
    }
  }
  return table(headers[sc.kind], rows);
}

/**
 * Per scenario, the threaded contenders (epoxy, haproxy): each thread's share of the load, the
 * cost of threading (against the same contender at the lowest thread count), and for epoxy where
 * its CPU went (JS thread, engine threads, the rest).
 */
function threadsTable(sc) {
  const [tput, cpu] = METRICS[sc.kind];
  const lowest = sc.threadCounts?.[0];
  const several = (sc.threadCounts?.length ?? 1) > 1;
  const perReq = sc.kind === 'requests' || sc.kind === 'bytes';
  if (!perReq) return undefined;
  const header = [
    'contender',
    tput.unit,
    ...(several ? [`vs ${lowest} thread${lowest === 1 ? '' : 's'}`] : []),
    cpu.label.replace('proxy ', '') + ` (${cpu.unit})`,
    ...(several ? [`vs ${lowest} thread${lowest === 1 ? '' : 's'} (cost of threading)`] : []),
    'load share per thread (median over reps)',
    'worst thread, any rep',
    'connections accepted per thread',
    'CPU µs/req: JS thread / engine threads / rest',
    'JS thread busy',
    'kernel share of CPU',
    'engine loop turns per request',
  ];
  const rows = [];
  for (const c of sc.cells) {
    if (c.threads === undefined || !c.stats || Object.keys(c.stats).length === 0) continue;
    const s = c.stats;
    const b = c.balance;
    const by = b?.by === 'requests' ? 'of requests' : 'of CPU';
    const shares = b && b.shares.length > 1 ? `${b.shares.map((x) => pct(x.share)).join(' / ')} ${by}` : b ? `1 thread` : '–';
    const worst = b && b.shares.length > 1 ? `${pct(s.minThreadShare?.min)} – ${pct(s.maxThreadShare?.max)}` : '–';
    const accepted = b?.accepted && b.accepted.length > 1 ? b.accepted.map((a) => fmt(a, 0)).join(' / ') : '–';
    const split = s.jsCpuUsPerReq ? [s.jsCpuUsPerReq, s.engineCpuUsPerReq, s.otherCpuUsPerReq].map((x) => fmt(x?.median, 2)).join(' / ') : '–';
    rows.push([
      cellLabel(c, sc),
      spreadCell(s[tput.key], tput.key === 'mbps' || tput.key === 'rps' ? 0 : undefined),
      ...(several ? [fmtRatio(c.vsOneThread?.[tput.key])] : []),
      spreadCell(s[cpu.key], cpu.key === 'cpuSecPerGB' ? 3 : 1),
      ...(several ? [fmtRatio(c.vsOneThread?.[cpu.key])] : []),
      shares,
      worst,
      accepted,
      split,
      pct(s.jsBusyShare?.median, 0),
      pct(s.sysCpuShare?.median, 0),
      fmt(s.loopTurnsPerReq?.median, 3),
    ]);
  }
  return rows.length ? table(header, rows) : undefined;
}

/** The whole Markdown report. `chartDir` is the link prefix of the SVGs ('' = same directory). */
export function markdown(result, { chartDir = '' } = {}) {
  const { meta } = result;
  const m = meta.machine;
  const v = meta.versions;
  const out = [];
  out.push(`# epoxy benchmark — ${meta.startedAt.slice(0, 16).replace('T', ' ')} UTC${meta.profile === 'quick' ? ' (quick smoke run: 1 rep, short runs — not for comparison)' : ''}`);
  out.push('');
  out.push(
    `Machine: ${m.cpus} vCPU (${m.cpuModel}${m.virtualization ? `, ${m.virtualization}` : ''}), ${m.memGiB} GiB, kernel ${m.kernel}` +
      `${m.tcpCongestion ? `, TCP congestion control ${m.tcpCongestion} (default qdisc ${m.qdisc ?? 'unknown'})` : ''}. ` +
      `epoxy ${v.epoxy}, node ${v.node}, haproxy ${v.haproxy}, nginx ${v.nginx} (backend, ${meta.options?.backendWorkers ?? 1} worker${(meta.options?.backendWorkers ?? 1) === 1 ? '' : 's'}), wrk ${v.wrk}, ab ${v.ab}, http-proxy ${v.httpProxy}. ` +
      `Everything on 127.0.0.1, load generator, proxy and backend sharing the ${m.cpus} CPUs${meta.options.pin ? ` (pinned: proxy on CPU ${meta.options.proxyCpus}, the rest on ${meta.options.clientCpus})` : ' (not pinned)'}.`,
  );
  out.push('');
  out.push(
    `Each cell: ${meta.profile === 'quick' ? '1 run' : `median of ${meta.reps} runs (min–max in brackets)`}, contenders interleaved (run 1 of each, then run 2, …). ` +
      `Ratios are to the scenario's **bold** haproxy contender (throughput: higher is better; CPU and memory: lower is better). ` +
      `Proxy CPU = utime+stime of the proxy process (all threads) from /proc/PID/stat around the run, divided by requests (or GB). ` +
      `MB = 10⁶ bytes. Flags: *noisy* = the machine was not quiet (< ${Math.round(meta.options.quietThreshold * 100)}% CPU busy) before a run; *spread* = min–max above ${SPREAD_LIMIT * 100}% of the median.`,
  );
  out.push('');
  const threadCounts = meta.options?.threads ?? [1];
  if (!(threadCounts.length === 1 && threadCounts[0] === 1)) {
    out.push(
      `Threads: epoxy runs with \`engine.threads\` and haproxy with \`nbthread\` set to ${threadCounts.join(' and ')} (explicitly, never 'auto'); ` +
        `a row's "vs haproxy" ratios are to the haproxy row with the same thread count. ` +
        `"Cost of threading" is a contender's CPU per request (or per GB) at N threads over its own at ${threadCounts[0]} thread${threadCounts[0] === 1 ? '' : 's'}, on the same load.`,
    );
    out.push('');
  }
  const cost = result.threading;
  if (cost?.length) {
    out.push('## Cost of threading');
    out.push('');
    out.push(
      table(
        ['scenario', 'contender', 'CPU at 1 → N threads', 'CPU ratio (N / 1)', 'throughput ratio (N / 1)'],
        cost.map((r) => [
          r.scenario,
          `${label(r.contender)}: ${r.vsThreads} → ${r.threads} threads`,
          `${fmt(r.cpuOne, r.unit === 'CPU s/GB' ? 3 : 1)} → ${fmt(r.cpu, r.unit === 'CPU s/GB' ? 3 : 1)} ${r.unit}`,
          fmtRatio(r.cpuRatio),
          fmtRatio(r.throughputRatio),
        ]),
      ),
    );
    out.push('');
  }
  const g = result.goals;
  if (g?.length) {
    out.push('## Goals (ratios for later tuning)');
    out.push('');
    out.push(
      table(
        ['goal', 'measured', 'met'],
        g.map((r) => [r.goal, fmtRatio(r.ratio), r.met === undefined ? '–' : r.met ? 'yes' : 'no']),
      ),
    );
    out.push('');
  }
  const ins = result.inspection;
  if (ins?.length) {
    out.push('## SNI inspection cost (tls-conn)');
    out.push('');
    out.push('Proxy CPU µs per TLS connection routed by SNI minus the same proxy\'s without inspection (plain TCP mode to the same TLS backend); medians, min–max in brackets.');
    out.push('');
    const named = !(threadCounts.length === 1 && threadCounts[0] === 1);
    out.push(
      table(
        ['proxy', 'by SNI µs/conn', 'no inspection µs/conn', 'inspection cost µs/conn', 'relative'],
        ins.map((r) => [`${r.proxy}${named ? ` (${r.threads} thread${r.threads === 1 ? '' : 's'})` : ''}`, spreadCell(r.sni, 1), spreadCell(r.plain, 1), `${r.costUs >= 0 ? '+' : ''}${fmt(r.costUs, 1)}`, `${r.share >= 0 ? '+' : ''}${pct(r.share)}`]),
      ),
    );
    out.push('');
  }
  for (const sc of result.scenarios) {
    out.push(`## ${sc.title}`);
    out.push('');
    out.push(`${sc.about} \`${sc.command}\``);
    out.push('');
    out.push(scenarioTable(sc));
    out.push('');
    const tt = threadsTable(sc);
    if (tt) {
      out.push(
        `*Threads*: load share = each thread's part of the requests it served (epoxy /stats \`threads\`, HTTP mode) or, where no requests are counted (TCP mode, haproxy), of the worker threads' CPU time (/proc/PID/task). ` +
          `The issue's goal at 2 threads: each within 35–65 %. epoxy's CPU split (per-thread /proc/PID/task/TID/schedstat): its JS (main) thread — hooks, logs, the control plane —, its engine threads, and the rest (libuv's pool, V8's helpers). ` +
          `Kernel share = stime / (utime+stime). Loop turns = epoll wake-ups of all engine threads per request (/stats).`,
      );
      out.push('');
      out.push(tt);
      out.push('');
    }
    out.push(sc.charts.map((c) => `![${sc.title}: ${c.title}](${chartDir}${c.file})`).join(' '));
    out.push('');
  }
  out.push(`Total time: ${Math.round(meta.elapsedSec)} s. Raw data: \`bench/results/${meta.id}.json\`.`);
  out.push('');
  return out.join('\n');
}

/** A compact summary (medians and spreads only, no raw tool output): bench/results/latest/summary.json. */
export function compact(result) {
  const round = (_key, v) => (typeof v === 'number' && !Number.isInteger(v) ? Number(v.toPrecision(4)) : v);
  return JSON.parse(JSON.stringify(compactRaw(result), round));
}

function compactRaw(result) {
  return {
    meta: result.meta,
    goals: result.goals,
    inspection: result.inspection,
    threading: result.threading,
    scenarios: result.scenarios.map((sc) => ({
      id: sc.id,
      title: sc.title,
      command: sc.command,
      baseline: sc.baseline,
      threadCounts: sc.threadCounts,
      cells: sc.cells.map((c) => ({ contender: c.contender, threads: c.threads, available: c.available, reason: c.reason, stats: c.stats, ratios: c.ratios, vsOneThread: c.vsOneThread, balance: c.balance, flags: c.flags })),
    })),
  };
}
