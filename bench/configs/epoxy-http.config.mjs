// epoxy in HTTP mode with its native balancer, for the HTTP scenarios. The harness runs
// `epoxy check` on this file first and reports epoxy's HTTP cells as "n/a" while that fails (an
// epoxy without HTTP mode). Keep-alive on both sides, server connections pooled by epoxy.
// With BENCH_ACCESS_LOG set (the `epoxy-http+log` contender), every request also writes an access
// log line to that file: the JS thread formats and writes each one.
import { benchAdmin, benchEngine, benchPorts } from './bench-env.mjs';

const { listen, backend } = benchPorts();
const accessLog = process.env.BENCH_ACCESS_LOG ? { accessLog: { mode: 'full', destination: process.env.BENCH_ACCESS_LOG } } : {};

export default {
  listeners: [{ name: 'bench', bind: `127.0.0.1:${listen}`, mode: 'http', routes: [{ pool: 'backend' }] }],
  pools: {
    backend: { balance: 'roundrobin', servers: [`127.0.0.1:${backend}`] },
  },
  timeouts: { connectMs: 5000, clientMs: 120_000, serverMs: 120_000 },
  engine: benchEngine(),
  ...benchAdmin(),
  ...accessLog,
};
