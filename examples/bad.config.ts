import type { EpoxyConfig } from 'epoxy';

// A config with deliberate mistakes, for `epoxy check` and the tests. It type-checks (the
// mistakes are in values, not types), so only validation can catch them:
//
//   $ npx epoxy check examples/bad.config.ts
//
// (`import type` vanishes at load time, so this file loads even before dist/ is built.)
export default {
  listeners: [
    // "wbe" is a typo: there is no such pool.
    { name: 'web', bind: '127.0.0.1:8080', mode: 'tcp', pool: 'wbe' },
    // Same bind as the listener above.
    { name: 'admin', bind: '127.0.0.1:8080', mode: 'tcp', pool: 'web' },
  ],
  pools: {
    web: {
      balance: 'roundrobin',
      // 99999 is not a port.
      servers: ['127.0.0.1:9001', '127.0.0.1:99999'],
    },
  },
} satisfies EpoxyConfig;
