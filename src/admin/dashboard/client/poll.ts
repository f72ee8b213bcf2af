/**
 * Client script, part 7: the loop. One /stats request at a time, a second apart from start to
 * start; a request that fails or hangs shows the "disconnected" banner, and the loop goes on, so
 * the page comes back by itself when the proxy (or its admin server) does.
 */
export const pollJs = String.raw`
const POLL_MS = 1000;
/** A poll without an answer this long counts as a lost connection. */
const TIMEOUT_MS = 2500;
let previous = null;

async function fetchStats() {
  const abort = new AbortController();
  const timer = setTimeout(function () { abort.abort(); }, TIMEOUT_MS);
  try {
    // Relative: the page works wherever the admin server is mounted.
    const res = await fetch('./stats', { cache: 'no-store', signal: abort.signal, headers: { accept: 'application/json' } });
    if (!res.ok) throw new Error('/stats answered HTTP ' + res.status);
    const stats = await res.json();
    if (!stats || !Array.isArray(stats.listeners) || !Array.isArray(stats.pools)) throw new Error('/stats answered something else than stats');
    return stats;
  } catch (err) {
    if (err && err.name === 'AbortError') throw new Error('no answer from /stats within ' + TIMEOUT_MS / 1000 + ' s');
    throw err;
  } finally {
    clearTimeout(timer);
  }
}

function onStats(stats) {
  // Uptime going back: another proxy answers now; its counters share nothing with the last read.
  if (previous && stats.uptimeMs < previous.uptimeMs) previous = null;
  const seconds = elapsedSeconds(previous, stats);
  document.title = 'epoxy ' + stats.version + ' · ' + location.host;
  show(document.getElementById('version'), stats.version, null);
  show(document.getElementById('uptime'), fmtUptime(stats.uptimeMs), stats.uptimeMs);
  show(document.getElementById('updated'), new Date().toLocaleTimeString(), null);
  renderListeners(stats, previous, seconds);
  renderThreads(stats, previous, seconds);
  renderPools(stats, previous, seconds);
  previous = stats;
}

function setConnected(connected, reason) {
  const banner = document.getElementById('banner');
  banner.hidden = connected;
  if (!connected) document.getElementById('banner-reason').textContent = reason;
  document.body.classList.toggle('stale', !connected);
  const status = document.getElementById('status');
  showState(status, connected ? 'live' : 'disconnected');
}

async function poll() {
  const started = performance.now();
  try {
    let stats;
    try {
      stats = await fetchStats();
    } catch (err) {
      setConnected(false, err instanceof Error ? err.message : String(err));
      return;
    }
    setConnected(true, '');
    // A bug in drawing is the page's, not the connection's: it stays an uncaught error.
    onStats(stats);
  } finally {
    setTimeout(poll, Math.max(0, POLL_MS - (performance.now() - started)));
  }
}
`;
