import { defineConfig } from 'epoxy';

// A TCP load balancer: connections to 127.0.0.1:8080 are spread over two servers.
// See README.md in this folder for backends to try it with.
export default defineConfig({
  listeners: [{ name: 'web', bind: '127.0.0.1:8080', mode: 'tcp', pool: 'web' }],
  pools: {
    web: {
      // Smooth weighted round robin: 9002 gets two connections for every one 9001 gets.
      balance: 'roundrobin',
      servers: ['127.0.0.1:9001', { address: '127.0.0.1:9002', weight: 2 }],
      retries: 1,
    },
  },
  timeouts: {
    connectMs: 2000,
    // Close sessions idle for a minute.
    clientMs: 60_000,
  },
});
