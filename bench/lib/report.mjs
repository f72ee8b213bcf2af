// From repetitions to the report: medians and spreads per cell, flags, ratios to the scenario's
// haproxy baseline, the goals of the benchmark issue, and the Markdown tables.
import { CONTENDERS } from './contenders.mjs';
import { ratio, summarize } from './stats.mjs';

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

const ALL_KEYS = ['rps', 'p50Ms', 'p99Ms', 'meanMs', 'mbps', 'cpuUsPerReq', 'cpuSecPerGB', 'peakRssKiB', 'backendCpuUsPerReq', 'backendCpuSecPerGB', 'bytesPerConn', 'fdsPerConn', 'rssBeforeKiB', 'rssAfterKiB', 'cpuUsPerConn', 'connections'];

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
  }
  const base = scenario.cells.find((c) => c.contender === scenario.baseline);
  for (const cell of scenario.cells) {
    cell.ratios = {};
    if (!cell.stats || !base?.stats) continue;
    for (const m of metrics) cell.ratios[m.key] = ratio(cell.stats[m.key]?.median, base.stats[m.key]?.median);
  }
  return scenario;
}

const med = (scenarios, id, contender, key) =>
  scenarios.find((s) => s.id === id)?.cells.find((c) => c.contender === contender)?.stats?.[key]?.median;

/** The goals from the benchmark issue, as measured ratios (for later tuning; not pass/fail gates). */
export function goals(scenarios) {
  const rows = [];
  const add = (goal, id, key, vs, target, higherIsBetter) => {
    const r = ratio(med(scenarios, id, 'epoxy', key), med(scenarios, id, vs, key));
    rows.push({ goal, scenario: id, target, ratio: r, met: r === undefined ? undefined : higherIsBetter ? r >= target : r <= target });
  };
  add('TCP throughput, 1 MiB: epoxy ≥ 1.0× haproxy+splice', 'tcp-1m', 'mbps', 'haproxy-tcp-splice', 1.0, true);
  add('TCP throughput, 100 MiB: epoxy ≥ 1.0× haproxy+splice', 'tcp-100m', 'mbps', 'haproxy-tcp-splice', 1.0, true);
  add('CPU s/GB, 1 MiB: epoxy ≤ 0.8× haproxy+splice', 'tcp-1m', 'cpuSecPerGB', 'haproxy-tcp-splice', 0.8, false);
  add('CPU s/GB, 100 MiB: epoxy ≤ 0.8× haproxy+splice', 'tcp-100m', 'cpuSecPerGB', 'haproxy-tcp-splice', 0.8, false);
  add('CPU µs/request, 1 KiB in TCP mode: epoxy ≤ 1.0× haproxy (no splice)', 'tcp-1k-ka', 'cpuUsPerReq', 'haproxy-tcp', 1.0, false);
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
    const name = c.contender === sc.baseline ? `**${label(c.contender)}**` : label(c.contender);
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
    const noProxy = c.contender === 'direct' ? '– (no proxy)' : '–';
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
      `epoxy ${v.epoxy}, node ${v.node}, haproxy ${v.haproxy}, nginx ${v.nginx} (backend, 1 worker), wrk ${v.wrk}, ab ${v.ab}, http-proxy ${v.httpProxy}. ` +
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
  for (const sc of result.scenarios) {
    out.push(`## ${sc.title}`);
    out.push('');
    out.push(`${sc.about} \`${sc.command}\``);
    out.push('');
    out.push(scenarioTable(sc));
    out.push('');
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
    scenarios: result.scenarios.map((sc) => ({
      id: sc.id,
      title: sc.title,
      command: sc.command,
      baseline: sc.baseline,
      cells: sc.cells.map((c) => ({ contender: c.contender, available: c.available, reason: c.reason, stats: c.stats, ratios: c.ratios, flags: c.flags })),
    })),
  };
}
