// epoxy in TCP mode with its native balancer (no select hook): the `epoxy` contender.
// Run by the harness as `node dist/cli/main.js run bench/configs/epoxy-tcp.config.mjs`; the ports
// come from the environment so the file stays readable. Engine tuning is left at the defaults
// (256 KiB splice pipes, splice once a read fills 16 KiB). With BENCH_CONGESTION set (the
// `epoxy-cubic` contender), the listener and pool set that TCP congestion control on epoxy's sockets.
import { benchAdmin, benchEngine, benchPorts } from './bench-env.mjs';

const { listen, backend } = benchPorts();
const congestion = process.env.BENCH_CONGESTION ? { congestion: process.env.BENCH_CONGESTION } : {};

export default {
  listeners: [{ name: 'bench', bind: `127.0.0.1:${listen}`, mode: 'tcp', pool: 'backend', ...congestion }],
  pools: {
    backend: { balance: 'roundrobin', servers: [`127.0.0.1:${backend}`], ...congestion },
  },
  timeouts: { connectMs: 5000, clientMs: 120_000 },
  engine: benchEngine(),
  ...benchAdmin(),
};
