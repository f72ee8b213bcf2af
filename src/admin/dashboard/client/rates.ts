/**
 * Client script, part 2: rates from two /stats reads. The time base is the proxy's own uptimeMs
 * and not the browser's clock: the server reads its counters and its clock together, so a poll
 * that was sent late or answered slowly (a busy browser, a slow link) moves neither the counter
 * delta nor the time it is divided by. A counter that went back (a restarted proxy, a server
 * removed and added again) gives no rate rather than a negative one.
 */
export const ratesJs = String.raw`
/** Seconds between two reads of /stats; 0 (no rates) without a previous read. */
function elapsedSeconds(before, after) {
  return before ? (after.uptimeMs - before.uptimeMs) / 1000 : 0;
}

/** Per second between two reads of one counter, or null when that cannot be known. */
function perSecond(before, after, seconds) {
  if (typeof before !== 'number' || typeof after !== 'number') return null;
  if (after < before || !(seconds > 0)) return null;
  return (after - before) / seconds;
}

function responsesTotal(r) {
  return r.none + r['1xx'] + r['2xx'] + r['3xx'] + r['4xx'] + r['5xx'];
}

/** A rate of counter f of item before and after (before may be undefined: new item). */
function rateOf(before, after, seconds, f) {
  return perSecond(before === undefined ? undefined : f(before), f(after), seconds);
}

/** A listener's rates: requests (HTTP) or new connections (TCP), bytes, errors. */
function listenerRates(before, after, seconds) {
  const counted = after.mode === 'tcp' ? function (l) { return l.sessions.total; } : function (l) { return l.requests.total; };
  return {
    rate: rateOf(before, after, seconds, counted),
    bytesIn: rateOf(before, after, seconds, function (l) { return l.bytes.in; }),
    bytesOut: rateOf(before, after, seconds, function (l) { return l.bytes.out; }),
    responses: rateOf(before, after, seconds, function (l) { return responsesTotal(l.responses); }),
    errors5xx: rateOf(before, after, seconds, function (l) { return l.responses['5xx']; }),
    errors4xx: rateOf(before, after, seconds, function (l) { return l.responses['4xx']; }),
  };
}

/**
 * What a pool's rate counts: requests, unless it never had one but did have sessions (a pool
 * behind TCP listeners only), then connections. /stats does not say which listeners use a pool.
 */
function poolUnit(pool) {
  return pool.requests.total === 0 && pool.sessions.total > 0 ? 'conn' : 'req';
}

function serverRates(before, after, seconds, unit) {
  const counted = unit === 'conn' ? function (s) { return s.sessions.total; } : function (s) { return s.requests.total; };
  const bytesIn = rateOf(before, after, seconds, function (s) { return s.bytes.in; });
  const bytesOut = rateOf(before, after, seconds, function (s) { return s.bytes.out; });
  return {
    rate: rateOf(before, after, seconds, counted),
    bytesIn: bytesIn,
    bytesOut: bytesOut,
    bandwidth: bytesIn === null || bytesOut === null ? null : bytesIn + bytesOut,
  };
}

/**
 * What the threads' rate counts, like poolUnit: requests, unless no thread ever had one but
 * some accepted connections (TCP listeners only), then new connections.
 */
function threadUnit(threads) {
  let requests = 0;
  let accepted = 0;
  for (const t of threads) {
    requests += t.requests;
    accepted += t.accepted;
  }
  return requests === 0 && accepted > 0 ? 'conn' : 'req';
}

/** An engine thread's rates: requests or new connections per second, and its CPU in cores (1: one core busy all the time). */
function threadRates(before, after, seconds, unit) {
  const counted = unit === 'conn' ? function (t) { return t.accepted; } : function (t) { return t.requests; };
  const cpuMsPerSecond = rateOf(before, after, seconds, function (t) { return t.cpuMs; });
  return { rate: rateOf(before, after, seconds, counted), cpu: cpuMsPerSecond === null ? null : cpuMsPerSecond / 1000 };
}

/** part / whole (two rates over the same seconds), or null when there is no whole. */
function shareOf(part, whole) {
  return part === null || whole === null || !(whole > 0) ? null : part / whole;
}

function indexBy(items, key) {
  const map = new Map();
  for (const item of items) map.set(key(item), item);
  return map;
}
`;
