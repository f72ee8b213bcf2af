// Parsers for the text wrk (--latency) and ab print. Throw when a number the report needs is
// missing, so a changed output format fails loudly instead of producing zeros.

const TIME_UNITS = { us: 1e-3, ms: 1, s: 1e3, m: 60e3, h: 3600e3 }; // to milliseconds
// wrk prints sizes with binary prefixes (format_binary: 1 KB = 1024 B).
const SIZE_UNITS = { B: 1, KB: 1024, MB: 1024 ** 2, GB: 1024 ** 3, TB: 1024 ** 4 };

function timeMs(text) {
  const m = /^([\d.]+)(us|ms|s|m|h)$/.exec(text.trim());
  if (!m) throw new Error(`cannot parse wrk time "${text}"`);
  return Number(m[1]) * TIME_UNITS[m[2]];
}

function sizeBytes(text) {
  const m = /^([\d.]+)(B|KB|MB|GB|TB)$/.exec(text.trim());
  if (!m) throw new Error(`cannot parse wrk size "${text}"`);
  return Number(m[1]) * SIZE_UNITS[m[2]];
}

function need(m, what, text) {
  if (!m) throw new Error(`wrk/ab output has no ${what}:\n${text}`);
  return m;
}

/**
 * wrk --latency output → { requests, durationSec, bytes, rps, bytesPerSec, latency: { avgMs,
 * maxMs, p50Ms, p75Ms, p90Ms, p99Ms }, errors: { connect, read, write, timeout }, non2xx }.
 * `bytes` comes from "N requests in Xs, Y read" (all bytes read, partial responses included).
 */
export function parseWrk(text) {
  const total = need(/^\s*(\d+) requests in ([\d.]+\w+), ([\d.]+\w+) read/m.exec(text), 'request total', text);
  const rps = need(/^Requests\/sec:\s+([\d.]+)/m.exec(text), 'Requests/sec', text);
  const transfer = need(/^Transfer\/sec:\s+([\d.]+\w+)/m.exec(text), 'Transfer/sec', text);
  const lat = /^\s*Latency\s+([\d.]+\w+)\s+([\d.]+\w+)\s+([\d.]+\w+)/m.exec(text);
  const pct = (p) => {
    const m = new RegExp(`^\\s*${p}%\\s+([\\d.]+\\w+)`, 'm').exec(text);
    return m ? timeMs(m[1]) : undefined;
  };
  const sock = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(text);
  const non2xx = /Non-2xx or 3xx responses: (\d+)/.exec(text);
  const result = {
    requests: Number(total[1]),
    durationSec: timeMs(total[2]) / 1000,
    bytes: sizeBytes(total[3]),
    rps: Number(rps[1]),
    bytesPerSec: sizeBytes(transfer[1]),
    latency: {
      avgMs: lat ? timeMs(lat[1]) : undefined,
      maxMs: lat ? timeMs(lat[3]) : undefined,
      p50Ms: pct(50),
      p75Ms: pct(75),
      p90Ms: pct(90),
      p99Ms: pct(99),
    },
    errors: sock
      ? { connect: Number(sock[1]), read: Number(sock[2]), write: Number(sock[3]), timeout: Number(sock[4]) }
      : { connect: 0, read: 0, write: 0, timeout: 0 },
    non2xx: non2xx ? Number(non2xx[1]) : 0,
  };
  // The line bench/lib/wrk-done.lua prints: exact totals replace the rounded text ones.
  const exact = /^EPOXY-BENCH requests=(\d+) bytes=(\d+) duration_us=(\d+) p50_us=(\d+) p99_us=(\d+) errors=(\d+),(\d+),(\d+),(\d+),(\d+)/m.exec(text);
  if (exact) {
    const [requests, bytes, us, p50, p99, connect, read, write, status, timeout] = exact.slice(1).map(Number);
    Object.assign(result, { requests, bytes, durationSec: us / 1e6, rps: requests / (us / 1e6), bytesPerSec: bytes / (us / 1e6) });
    Object.assign(result.latency, { p50Ms: p50 / 1000, p99Ms: p99 / 1000 });
    result.errors = { connect, read, write, timeout };
    result.non2xx = status;
    result.exact = true;
  }
  if (result.latency.p50Ms === undefined) throw new Error(`wrk output has no latency distribution (run with --latency):\n${text}`);
  return result;
}

/**
 * ab output → { complete, failed, non2xx, durationSec, bytes, rps, meanMs, meanAcrossMs,
 * bytesPerSec, percentilesMs: { 50, 66, 75, 80, 90, 95, 98, 99, 100 }, connectionTimesMs }.
 * ab's percentiles are whole milliseconds; `meanMs` ("Time per request ... (mean)") has µs.
 */
export function parseAb(text) {
  const num = (re, what) => Number(need(re.exec(text), what, text)[1]);
  const complete = num(/^Complete requests:\s+(\d+)/m, 'Complete requests');
  const failed = num(/^Failed requests:\s+(\d+)/m, 'Failed requests');
  const non2xx = /^Non-2xx responses:\s+(\d+)/m.exec(text);
  const durationSec = num(/^Time taken for tests:\s+([\d.]+) seconds/m, 'Time taken');
  const bytes = num(/^Total transferred:\s+(\d+) bytes/m, 'Total transferred');
  const rps = num(/^Requests per second:\s+([\d.]+)/m, 'Requests per second');
  const meanMs = num(/^Time per request:\s+([\d.]+) \[ms\] \(mean\)$/m, 'Time per request (mean)');
  const meanAcrossMs = num(/^Time per request:\s+([\d.]+) \[ms\] \(mean, across/m, 'Time per request (across)');
  const percentilesMs = {};
  for (const m of text.matchAll(/^\s*(\d+)%\s+(\d+)/gm)) percentilesMs[m[1]] = Number(m[2]);
  if (percentilesMs['50'] === undefined) need(null, 'percentile table', text);
  const connectionTimesMs = {};
  for (const m of text.matchAll(/^(Connect|Processing|Waiting|Total):\s+(\d+)\s+(\d+)\s+([\d.]+)\s+(\d+)\s+(\d+)/gm)) {
    connectionTimesMs[m[1].toLowerCase()] = { min: Number(m[2]), mean: Number(m[3]), sd: Number(m[4]), median: Number(m[5]), max: Number(m[6]) };
  }
  return {
    complete,
    failed,
    non2xx: non2xx ? Number(non2xx[1]) : 0,
    durationSec,
    bytes,
    rps,
    meanMs,
    meanAcrossMs,
    bytesPerSec: bytes / durationSec,
    percentilesMs,
    connectionTimesMs,
  };
}
