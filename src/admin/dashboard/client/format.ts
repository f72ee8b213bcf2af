/**
 * Client script, part 1: how numbers read on the page. This and the other client/ modules are
 * plain browser JavaScript kept in strings: the page is one document with its script inline
 * (no build step, no second request), and the strings are exactly what the browser runs.
 * No backticks or template holes inside them (they are String.raw templates).
 */
export const formatJs = String.raw`
const GROUPED = new Intl.NumberFormat('en-US');
const BYTE_UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];

/** A counter: whole and grouped, "12,345". */
function fmtCount(n) {
  return GROUPED.format(n);
}

/** A per-second rate: two decimals under 10, one under 1000, then whole; "—" when unknown. */
function fmtRate(r) {
  if (r === null) return '—';
  if (r < 10) return r.toFixed(2);
  if (r < 1000) return r.toFixed(1);
  return GROUPED.format(Math.round(r));
}

/** Bytes in binary units, "2.0 KiB"; one decimal under 100 of a unit. */
function fmtBytes(n) {
  let unit = 0;
  while (n >= 1024 && unit < BYTE_UNITS.length - 1) {
    n /= 1024;
    unit++;
  }
  if (unit === 0) return Math.round(n) + ' B';
  return (n < 100 ? n.toFixed(1) : String(Math.round(n))) + ' ' + BYTE_UNITS[unit];
}

function fmtByteRate(r) {
  return r === null ? '—' : fmtBytes(r) + '/s';
}

/** A latency from the stats' percentiles (null: nothing measured yet). */
function fmtMs(ms) {
  if (ms === null || ms === undefined) return '—';
  if (ms < 10) return ms.toFixed(1) + ' ms';
  if (ms < 1000) return Math.round(ms) + ' ms';
  return (ms / 1000).toFixed(2) + ' s';
}

/** A share (0..1) as a percentage, "(3.0%)"; empty when unknown. */
function fmtShare(share) {
  return share === null ? '' : '(' + (100 * share).toFixed(1) + '%)';
}

/** CPU in cores (1: one core busy all the time) as a percentage of one core, "37.5%"; "—" when unknown. */
function fmtCores(cores) {
  return cores === null ? '—' : (100 * cores).toFixed(1) + '%';
}

/** CPU time: "840 ms", "12.34 s" under a minute, then like an uptime, "4m 12s". */
function fmtCpuTime(ms) {
  return ms < 60000 ? fmtMs(ms) : fmtUptime(ms);
}

/** "3d 4h", "2h 5m", "4m 12s", "9s": the two largest units are enough to read. */
function fmtUptime(ms) {
  const s = Math.floor(ms / 1000);
  const parts = [[Math.floor(s / 86400), 'd'], [Math.floor(s / 3600) % 24, 'h'], [Math.floor(s / 60) % 60, 'm'], [s % 60, 's']];
  const first = parts.findIndex(function (p) { return p[0] > 0; });
  if (first < 0) return '0s';
  return parts.slice(first, first + 2).map(function (p) { return p[0] + p[1]; }).join(' ');
}
`;
