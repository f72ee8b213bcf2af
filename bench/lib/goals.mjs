// The goals of the benchmark issue, as measured ratios (for later tuning; not pass/fail gates):
// epoxy against haproxy on one metric of one scenario, at the same thread count. run.mjs keeps
// the rows in the results; report.mjs renders them.
import { ratio } from './stats.mjs';

/**
 * Each goal: `contender`'s median `key` in `scenario` over `vs`'s, at least `target` when
 * `higherIsBetter`, at most otherwise.
 */
export const GOALS = [
  { goal: 'TCP throughput, 1 MiB: epoxy ≥ 1.0× haproxy+splice', scenario: 'tcp-1m', key: 'mbps', vs: 'haproxy-tcp-splice', target: 1.0, higherIsBetter: true },
  { goal: 'TCP throughput, 100 MiB: epoxy ≥ 1.0× haproxy+splice', scenario: 'tcp-100m', key: 'mbps', vs: 'haproxy-tcp-splice', target: 1.0, higherIsBetter: true },
  { goal: 'CPU s/GB, 1 MiB: epoxy ≤ 0.8× haproxy+splice', scenario: 'tcp-1m', key: 'cpuSecPerGB', vs: 'haproxy-tcp-splice', target: 0.8, higherIsBetter: false },
  { goal: 'CPU s/GB, 100 MiB: epoxy ≤ 0.8× haproxy+splice', scenario: 'tcp-100m', key: 'cpuSecPerGB', vs: 'haproxy-tcp-splice', target: 0.8, higherIsBetter: false },
  { goal: 'CPU µs/request, 1 KiB in TCP mode: epoxy ≤ 1.0× haproxy (no splice)', scenario: 'tcp-1k-ka', key: 'cpuUsPerReq', vs: 'haproxy-tcp', target: 1.0, higherIsBetter: false },
  { goal: 'TLS by SNI, keep-alive: epoxy req/s ≥ 1.0× haproxy', scenario: 'tls-ka', key: 'rps', vs: 'haproxy-sni', target: 1.0, higherIsBetter: true, contender: 'epoxy-sni' },
  { goal: 'TLS by SNI, keep-alive: epoxy CPU µs/request ≤ 0.8× haproxy', scenario: 'tls-ka', key: 'cpuUsPerReq', vs: 'haproxy-sni', target: 0.8, higherIsBetter: false, contender: 'epoxy-sni' },
  { goal: 'TLS by SNI, a connection per request: epoxy req/s ≥ 1.0× haproxy', scenario: 'tls-conn', key: 'rps', vs: 'haproxy-sni', target: 1.0, higherIsBetter: true, contender: 'epoxy-sni' },
  { goal: 'TLS by SNI, a connection per request: epoxy CPU µs/connection ≤ 0.8× haproxy', scenario: 'tls-conn', key: 'cpuUsPerReq', vs: 'haproxy-sni', target: 0.8, higherIsBetter: false, contender: 'epoxy-sni' },
];

/** A contender's median of `key` in scenario `id` (at `threads`, where the cell has a count). */
const med = (scenarios, id, contender, key, threads) =>
  scenarios
    .find((s) => s.id === id)
    ?.cells.find((c) => c.contender === contender && (threads === undefined || c.threads === undefined || c.threads === threads))?.stats?.[key]?.median;

/** One goal's row at `threads`: { goal, scenario, threads, target, ratio, met }. */
function goalRow(scenarios, g, threads, suffix) {
  const r = ratio(med(scenarios, g.scenario, g.contender ?? 'epoxy', g.key, threads), med(scenarios, g.scenario, g.vs, g.key, threads));
  const met = r === undefined ? undefined : g.higherIsBetter ? r >= g.target : r <= g.target;
  return { goal: g.goal + suffix, scenario: g.scenario, threads, target: g.target, ratio: r, met };
}

/** The goals' rows, one set per thread count of the run, of the scenarios that ran. */
export function goals(scenarios, threadCounts = [1]) {
  const rows = [];
  const named = !(threadCounts.length === 1 && threadCounts[0] === 1);
  const ran = new Set(scenarios.map((s) => s.id));
  for (const t of threadCounts) {
    const suffix = named ? ` (${t} thread${t === 1 ? '' : 's'} each)` : '';
    // A filtered run (--only) shows the goals of its scenarios.
    for (const g of GOALS) if (ran.has(g.scenario)) rows.push(goalRow(scenarios, g, t, suffix));
  }
  return rows;
}
