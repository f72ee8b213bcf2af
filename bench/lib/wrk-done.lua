-- Loaded with `wrk -s`: prints wrk's own totals with full precision after the usual report (the
-- text report rounds bytes to 3 significant digits). Defines no request/response function, so
-- wrk keeps its static-request fast path.
done = function(summary, latency, requests)
  io.write(string.format("EPOXY-BENCH requests=%d bytes=%d duration_us=%d p50_us=%d p99_us=%d errors=%d,%d,%d,%d,%d\n",
    summary.requests, summary.bytes, summary.duration,
    latency:percentile(50), latency:percentile(99),
    summary.errors.connect, summary.errors.read, summary.errors.write, summary.errors.status, summary.errors.timeout))
end
