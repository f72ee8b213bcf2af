import { defineConfig } from 'epoxy';

// The source documents' platform across a fleet of epoxy instances that share their routing in
// one Redis. Run this same file on every instance:
//
// - `sites` pins a host to its own backends: a SET per host, `hostnames:<host>:backends`, as the
//   documents' Go proxy kept them. Hosts without an entry go on to the next route.
// - every other host goes to pool `apps`, which hashes the host over the backends listed in the
//   SET `epoxy:pool:apps`: every instance builds the same ring from the same members, so each
//   domain lands on the same backend whichever instance a client reaches, and adding a backend
//   moves only about 1/N of the domains — the same ones on every instance.
//
// Writers change Redis and PUBLISH the host (or `pool:apps`) on `epoxy:changes`; the operator
// commands do both in one MULTI:
//   npx epoxy hosts examples/fleet.config.ts set www.foo.com 10.0.0.5:8080
//   npx epoxy servers examples/fleet.config.ts add apps 10.0.0.9:8080
//
// When Redis is down, each instance keeps routing by the last map it knew, and one restarted
// meanwhile starts from its cacheFile (EPOXY_CACHE) — see the README, "A fleet sharing routing
// in Redis".
//
// Try it:
//   redis-server --port 6379 --save '' --appendonly no &
//   EPOXY_HTTP_BIND=127.0.0.1:8080 npx epoxy run examples/fleet.config.ts &
//   EPOXY_HTTP_BIND=127.0.0.1:8081 npx epoxy run examples/fleet.config.ts &
//   npx epoxy servers examples/fleet.config.ts add apps 127.0.0.1:9001
//   curl -H 'Host: www.foo.com' http://127.0.0.1:8080/ ; curl -H 'Host: www.foo.com' http://127.0.0.1:8081/
const cacheFile = process.env['EPOXY_CACHE'];

export default defineConfig({
  redis: { url: process.env['EPOXY_REDIS_URL'] ?? 'redis://127.0.0.1:6379/0' },
  hostMaps: {
    sites: {
      key: 'hostnames:{host}:backends',
      balance: 'roundrobin',
      pool: { retries: 2, passive: { errors: 3 } },
      ...(cacheFile ? { cacheFile } : {}),
    },
  },
  listeners: [
    {
      name: 'web',
      bind: process.env['EPOXY_HTTP_BIND'] ?? '127.0.0.1:8080',
      mode: 'http',
      routes: [{ hostMap: 'sites' }, { pool: 'apps' }],
    },
  ],
  pools: {
    apps: { balance: { hash: 'host' }, servers: { redis: 'epoxy:pool:apps' }, retries: 2 },
  },
  ...(process.env['EPOXY_ADMIN_BIND'] ? { admin: { bind: process.env['EPOXY_ADMIN_BIND'] } } : {}),
});
