/**
 * Latencies over the last minute (admin.latencyWindowMs), from histograms the engine counts
 * since start. The admin server keeps a copy of every histogram at most every window/6; the
 * recent histogram of a listener or server is its current one minus the newest copy at least a
 * window old (early in a run: the oldest copy, so the window is shorter and says so).
 */
import type { LatencyHistogram, ProxyStats } from '../stats.js';

/** A recent histogram and the span it covers in ms (shorter than the window early in a run). */
export interface RecentHistogram {
  histogram: LatencyHistogram;
  windowMs: number;
}

interface Snapshot {
  at: number;
  histograms: Map<string, LatencyHistogram>;
}

/** How many copies a window is cut into: the window is exact to within one step. */
const STEPS = 6;

export class LatencyWindows {
  readonly windowMs: number;
  #snapshots: Snapshot[] = [];

  constructor(windowMs: number) {
    this.windowMs = windowMs;
  }

  /** How often the admin server should call observe(). */
  get stepMs(): number {
    return Math.max(1, Math.floor(this.windowMs / STEPS));
  }

  /** Keeps a copy of `stats`' histograms taken at `now`, and drops the copies no longer needed. */
  observe(stats: ProxyStats, now: number): void {
    const last = this.#snapshots[this.#snapshots.length - 1];
    if (last && now - last.at < this.stepMs / 2) return;  // a stray extra call adds nothing
    this.#snapshots.push({ at: now, histograms: histograms(stats) });
    // Keep the newest copy at least a window old (the base) and everything after it.
    while (this.#snapshots.length > 1 && this.#snapshots[1]!.at <= now - this.windowMs) this.#snapshots.shift();
  }

  /** The recent part of `current`, the since-start histogram that `key` (listenerKey, serverKey) names. */
  recent(key: string, current: LatencyHistogram, now: number): RecentHistogram {
    const base = this.#base(now);
    if (!base) return { histogram: emptyLike(current), windowMs: 0 };
    const windowMs = now - base.at;
    const before = base.histograms.get(key);
    // Absent from the copy (a listener or server added since) or counted again from zero (a
    // server removed and added back): everything it counted is newer than the copy.
    if (!before || !countsSince(before, current)) return { histogram: copy(current), windowMs };
    return {
      histogram: { counts: current.counts.map((n, i) => n - (before.counts[i] ?? 0)), sumMs: current.sumMs - before.sumMs },
      windowMs,
    };
  }

  #base(now: number): Snapshot | undefined {
    let base: Snapshot | undefined;
    for (const s of this.#snapshots) {
      if (s.at > now) break;
      if (!base || s.at <= now - this.windowMs) base = s;
    }
    return base;
  }
}

export function listenerKey(name: string): string {
  return `listener\0${name}`;
}

export function serverKey(pool: string, address: string): string {
  return `server\0${pool}\0${address}`;
}

function histograms(stats: ProxyStats): Map<string, LatencyHistogram> {
  const out = new Map<string, LatencyHistogram>();
  for (const l of stats.listeners) out.set(listenerKey(l.name), copy(l.totalMs));
  for (const p of stats.pools) for (const s of p.servers) out.set(serverKey(p.name, s.address), copy(s.responseMs));
  return out;
}

/** Whether `later` can be `earlier` plus more counts (no bucket went down). */
function countsSince(earlier: LatencyHistogram, later: LatencyHistogram): boolean {
  if (earlier.counts.length !== later.counts.length || later.sumMs < earlier.sumMs) return false;
  return later.counts.every((n, i) => n >= (earlier.counts[i] ?? 0));
}

function copy(h: LatencyHistogram): LatencyHistogram {
  return { counts: [...h.counts], sumMs: h.sumMs };
}

function emptyLike(h: LatencyHistogram): LatencyHistogram {
  return { counts: h.counts.map(() => 0), sumMs: 0 };
}
