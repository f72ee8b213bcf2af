/**
 * Percentiles from the engine's latency histograms.
 *
 * The engine counts each latency (whole milliseconds) into fixed buckets: bucket i holds the
 * values in (bounds[i-1], bounds[i]] (the first from 0), the last bucket everything above the
 * last bound. A percentile q is found as Prometheus' histogram_quantile() finds it: the rank
 * q·count falls in some bucket, and the value is interpolated linearly between that bucket's
 * lower and upper bound by how far into the bucket the rank lies (as if its values were spread
 * evenly). A rank in the last, unbounded bucket answers the last bound, a lower limit. The error
 * is at most the width of the bucket: exact enough to see a trend, not for a 1 ms SLO.
 */
import type { LatencyHistogram } from '../stats.js';

export interface LatencySummary {
  /** Latencies counted. */
  count: number;
  /** Mean in ms (exact: the engine keeps the sum); null when nothing was counted. */
  meanMs: number | null;
  p50Ms: number | null;
  p90Ms: number | null;
  p99Ms: number | null;
}

export function summarize(h: LatencyHistogram, boundsMs: readonly number[]): LatencySummary {
  const count = h.counts.reduce((a, b) => a + b, 0);
  return {
    count,
    meanMs: count === 0 ? null : round(h.sumMs / count),
    p50Ms: percentile(h, boundsMs, 0.5),
    p90Ms: percentile(h, boundsMs, 0.9),
    p99Ms: percentile(h, boundsMs, 0.99),
  };
}

/** The q-quantile (0 < q ≤ 1) in ms, interpolated within its bucket; null for an empty histogram. */
export function percentile(h: LatencyHistogram, boundsMs: readonly number[], q: number): number | null {
  const count = h.counts.reduce((a, b) => a + b, 0);
  if (count === 0) return null;
  const rank = q * count;
  let below = 0;
  for (let i = 0; i < h.counts.length; i++) {
    const inBucket = h.counts[i] ?? 0;
    if (inBucket > 0 && below + inBucket >= rank) {
      const lower = i === 0 ? 0 : (boundsMs[i - 1] ?? 0);
      const upper = boundsMs[i];
      if (upper === undefined) return lower;  // the unbounded last bucket
      return round(lower + ((upper - lower) * (rank - below)) / inBucket);
    }
    below += inBucket;
  }
  return boundsMs[boundsMs.length - 1] ?? 0;
}

function round(ms: number): number {
  return Math.round(ms * 1000) / 1000;
}
