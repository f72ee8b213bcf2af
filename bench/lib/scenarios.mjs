// The scenarios: what load each one puts on which contenders, and which contender the ratios are
// taken against. `kind` decides the headline metrics: 'requests' (req/s, CPU µs per request),
// 'bytes' (MB/s, CPU s per GB) or 'idle' (RSS growth per idle connection). `tls`: wrk speaks
// HTTPS to https://bench.example.com:PORT (the backend gets its TLS listener; lib/wrk-tls.lua
// resolves the name to 127.0.0.1, so it is the SNI without an /etc/hosts entry); `headers`: -H
// options of wrk.
import { TLS_NAME } from './backend.mjs';

/** Durations and counts for a full run and for `--quick` (wrk takes whole seconds; warm-up 0 = none). */
export const PROFILES = {
  full: { reps: 3, wrkSec: 5, wrkBigSec: 6, warmupSec: 1, abHttpN: 100_000, abTcpN: 50_000, abWarmupN: 2000, idleConns: 5000, settleMs: 1000, quietSampleMs: 300, quietMaxWaitMs: 3000 },
  quick: { reps: 1, wrkSec: 1, wrkBigSec: 2, warmupSec: 0, abHttpN: 5000, abTcpN: 5000, abWarmupN: 500, idleConns: 1000, settleMs: 500, quietSampleMs: 200, quietMaxWaitMs: 2000 },
};

const TCP_PROXIES = ['direct', 'epoxy', 'epoxy+hook', 'haproxy-tcp', 'haproxy-tcp-splice'];
/** Bulk transfers add epoxy with `congestion: 'cubic'` (haproxy 2.6 has no per-socket setting). */
const TCP_BULK = [...TCP_PROXIES.slice(0, 2), 'epoxy-cubic', ...TCP_PROXIES.slice(2)];
const HTTP_PROXIES = ['direct', 'epoxy-http', 'epoxy-http+hook', 'haproxy-http', 'http-proxy'];
/** The keep-alive 1 KiB scenario adds epoxy with an access log line per request (the JS thread's cost of logging). */
const HTTP_KA = [...HTTP_PROXIES.slice(0, 3), 'epoxy-http+log', ...HTTP_PROXIES.slice(3)];
/** TLS passthrough: by SNI and without inspection, epoxy and haproxy, in front of nginx's HTTPS port. */
const TLS_PROXIES = ['direct-tls', 'epoxy-sni', 'epoxy-tls-plain', 'haproxy-sni', 'haproxy-tls-plain'];

export const SCENARIOS = [
  {
    id: 'tcp-1k-ka',
    title: 'TCP mode, 1 KiB responses, keep-alive',
    about: 'HTTP/1.1 keep-alive requests for a 1 KiB file through TCP-mode proxies: small messages, many per connection. The hook runs once per connection (100 connections), so it costs almost nothing here.',
    tool: 'wrk', path: '/1k', connections: 100, seconds: (p) => p.wrkSec,
    kind: 'requests', contenders: TCP_PROXIES, baseline: 'haproxy-tcp',
  },
  {
    id: 'tcp-1m',
    title: 'TCP mode, 1 MiB responses',
    about: 'Throughput: 1 MiB files over 4 keep-alive connections through TCP-mode proxies.',
    tool: 'wrk', path: '/1m', connections: 4, seconds: (p) => p.wrkSec,
    kind: 'bytes', contenders: TCP_BULK, baseline: 'haproxy-tcp-splice',
  },
  {
    id: 'tcp-100m',
    title: 'TCP mode, 100 MiB responses',
    about: 'Throughput: 100 MiB files over 2 keep-alive connections through TCP-mode proxies.',
    tool: 'wrk', path: '/100m', connections: 2, seconds: (p) => p.wrkBigSec, wrkTimeout: '30s',
    kind: 'bytes', contenders: TCP_BULK, baseline: 'haproxy-tcp-splice',
  },
  {
    id: 'tcp-1k-close',
    title: 'TCP mode, 1 KiB, a new connection per request (ab)',
    about: 'ab without keep-alive through TCP-mode proxies: every request is a new client connection, a new backend connection and (for epoxy+hook) one select-hook call.',
    tool: 'ab', path: '/1k', connections: 100, requests: (p) => p.abTcpN,
    kind: 'requests', contenders: ['direct', 'epoxy', 'epoxy+hook', 'haproxy-tcp'], baseline: 'haproxy-tcp',
  },
  {
    id: 'http-1k-ka',
    title: 'HTTP mode, 1 KiB responses, keep-alive',
    about: 'The classic small-request test through HTTP-mode proxies (wrk -t1 -c100 --latency). epoxy+log writes an access log line per request to a file.',
    tool: 'wrk', path: '/1k', connections: 100, seconds: (p) => p.wrkSec,
    kind: 'requests', contenders: HTTP_KA, baseline: 'haproxy-http',
  },
  {
    id: 'http-1k-close',
    title: 'HTTP mode, 1 KiB, no keep-alive (ab)',
    about: 'The classic test from the source documents: ab -n 100000 -c 100, a new connection per request, through HTTP-mode proxies.',
    tool: 'ab', path: '/1k', connections: 100, requests: (p) => p.abHttpN,
    kind: 'requests', contenders: HTTP_PROXIES, baseline: 'haproxy-http',
  },
  {
    id: 'http-64k-ka',
    title: 'HTTP mode, 64 KiB responses, keep-alive',
    about: 'Medium responses through HTTP-mode proxies (wrk -t1 -c100).',
    tool: 'wrk', path: '/64k', connections: 100, seconds: (p) => p.wrkSec,
    kind: 'requests', contenders: HTTP_PROXIES, baseline: 'haproxy-http',
  },
  {
    id: 'http-1k-ka-balancers',
    title: 'HTTP mode, 1 KiB keep-alive, each balancer over 4 servers',
    about: 'wrk -t1 -c100 through epoxy HTTP mode with four servers (one nginx on 127.0.0.1-4): the cost of each native balancer, and of a TypeScript select hook deciding every request, against round robin.',
    tool: 'wrk', path: '/1k', connections: 100, seconds: (p) => p.wrkSec,
    kind: 'requests', contenders: ['lb-roundrobin', 'lb-leastconn', 'lb-p2c', 'lb-hash', 'lb-hook'], baseline: 'lb-roundrobin',
  },
  {
    id: 'idle',
    title: 'Memory per idle connection',
    about: 'A fresh proxy; N client connections each make one 1 KiB request and then stay open, idle. RSS growth of the proxy process divided by N. TCP-mode proxies hold a backend connection per client connection; HTTP-mode proxies need none while idle.',
    tool: 'idle', path: '/1k', connections: (p) => p.idleConns,
    kind: 'idle', contenders: ['epoxy', 'epoxy+hook', 'haproxy-tcp', 'epoxy-http', 'haproxy-http', 'http-proxy'], baseline: 'haproxy-tcp',
  },
  {
    id: 'tls-ka',
    title: 'TLS passthrough by SNI, 1 KiB, keep-alive',
    about: `HTTPS through TCP-mode proxies that route by the ClientHello's SNI (${TLS_NAME}) without decrypting, and the same proxies without inspection: 50 keep-alive connections (one handshake each), then 1 KiB requests; the proxies only forward TLS records (at 1 KiB both copy: epoxy splices only once a read fills 16 KiB). nginx terminates TLS 1.3 (EC P-256 certificate).`,
    tool: 'wrk', tls: true, path: '/1k', connections: 50, seconds: (p) => p.wrkSec,
    kind: 'requests', contenders: TLS_PROXIES, baseline: 'haproxy-sni',
  },
  {
    id: 'tls-conn',
    title: 'TLS passthrough by SNI, a new TLS connection per request',
    about: `wrk with \`Connection: close\`: nginx closes after each response and wrk reconnects with a full TLS 1.3 handshake (nginx has no session cache and no tickets, so wrk cannot resume), the proxies inspect one ClientHello and open one backend connection per request: CPU per request = CPU per connection. SNI ${TLS_NAME}.`,
    tool: 'wrk', tls: true, headers: ['Connection: close'], path: '/1k', connections: 50, seconds: (p) => p.wrkSec,
    kind: 'requests', contenders: TLS_PROXIES, baseline: 'haproxy-sni',
  },
];
