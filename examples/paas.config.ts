import { defineConfig } from 'epoxy';

// The platform of the source documents: every request for a domain goes to the backend that
// runs that domain's app (pool `apps` hashes by Host), and the one special URL
//   http://admin.paas.local/user/<name>/webapps/<domain>/reload
// is sent to the server that serves <domain>: the select hook reads the domain from the path
// and asks the pool where its hash puts it. Adding a backend moves only about 1/N of the domains.
//
// Try it: EPOXY_APPS=127.0.0.1:9101,127.0.0.1:9102 npx epoxy run examples/paas.config.ts
//   curl -H 'Host: www.foo.com' http://127.0.0.1:8080/
//   curl -H 'Host: admin.paas.local' http://127.0.0.1:8080/user/fred/webapps/WWW.Foo.com/reload
const ADMIN_HOST = 'admin.paas.local';
const RELOAD = /^\/user\/[^/]+\/webapps\/([^/?#]+)\/reload(?:[/?#]|$)/;

const apps = (process.env['EPOXY_APPS'] ?? '127.0.0.1:9101,127.0.0.1:9102,127.0.0.1:9103').split(',');

export default defineConfig({
  listeners: [{ name: 'web', bind: process.env['EPOXY_BIND'] ?? '127.0.0.1:8080', mode: 'http', routes: [{ pool: 'apps' }] }],
  pools: {
    apps: {
      balance: { hash: 'host' },
      servers: apps,
      health: { type: 'tcp', intervalMs: 2000, rise: 2, fall: 3 },
    },
  },
  // Runs for every request; anything but the admin reload URL returns undefined, so the
  // pool's own hash decides. pick() normalizes the domain as the engine normalizes a Host.
  select: (ctx) => {
    if (ctx.request?.host !== ADMIN_HOST) return undefined;
    const domain = RELOAD.exec(ctx.request.path)?.[1];
    return domain === undefined ? undefined : ctx.pool('apps').pick(domain);
  },
});
