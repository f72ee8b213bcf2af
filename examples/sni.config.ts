import { defineConfig } from 'epoxy';

// The source documents' scenario, done the way their Go proxy could not: HTTP routed by the
// Host header on one listener; HTTPS routed by the SNI name of the client's TLS handshake on
// another, to a pool per host, without decrypting (epoxy holds no keys; after the ClientHello the
// bytes are spliced); and the PROXY protocol v2 in front of every HTTPS connection, so the
// HTTPS servers see the client's real address and port (nginx: `listen 443 ssl proxy_protocol`
// and $proxy_protocol_addr; haproxy: `bind :443 accept-proxy`).
//
// Try it (certificates and backends of your own, or the ones test/sni-example.test.ts starts):
//   EPOXY_WWW=127.0.0.1:9443 EPOXY_API=127.0.0.1:9444 EPOXY_WEB=127.0.0.1:9080 \
//     npx epoxy run examples/sni.config.ts
//   curl -H 'Host: www.example.com' http://127.0.0.1:8080/
//   openssl s_client -connect 127.0.0.1:8443 -servername api.example.com
const env = (name: string, fallback: string): string[] => (process.env[name] ?? fallback).split(',');

export default defineConfig({
  listeners: [
    {
      name: 'http',
      bind: process.env['EPOXY_HTTP_BIND'] ?? '127.0.0.1:8080',
      mode: 'http',
      routes: [{ host: '*.example.com', pool: 'web' }, { pool: 'web' }],
    },
    {
      name: 'https',
      bind: process.env['EPOXY_HTTPS_BIND'] ?? '127.0.0.1:8443',
      mode: 'tcp',
      routes: [
        { sni: 'api.example.com', pool: 'api' },
        { sni: 'www.example.com', pool: 'www' },
        { sni: '*.example.com', pool: 'www' },
        { pool: 'www' }, // no SNI, not TLS, or a hello that did not arrive in time
      ],
    },
  ],
  pools: {
    web: { servers: env('EPOXY_WEB', '127.0.0.1:9080') },
    www: { servers: env('EPOXY_WWW', '127.0.0.1:9443'), proxyProtocol: 'v2', health: { type: 'tcp' } },
    api: { servers: env('EPOXY_API', '127.0.0.1:9444'), proxyProtocol: 'v2', health: { type: 'tcp' } },
  },
  timeouts: { inspectMs: 5000 },
});
