import { defineConfig } from 'epoxy';

// An HTTP/1.1 reverse proxy on 127.0.0.1:8080: requests for api.example.com/v1/... go to the
// api pool, any other *.example.com host to web, everything else to web as well.
// Try it: curl -H 'Host: api.example.com' http://127.0.0.1:8080/v1/users
export default defineConfig({
  listeners: [
    {
      name: 'web',
      bind: '127.0.0.1:8080',
      mode: 'http',
      routes: [
        { host: 'api.example.com', path: '/v1/', pool: 'api' },
        { host: '*.example.com', pool: 'web' },
        { pool: 'web' },
      ],
    },
  ],
  pools: {
    web: { servers: ['127.0.0.1:9001', '127.0.0.1:9002'] },
    api: { balance: 'leastconn', servers: ['127.0.0.1:9101'] },
  },
  timeouts: { httpRequestMs: 10_000, serverMs: 30_000 },
  accessLog: true,
});
