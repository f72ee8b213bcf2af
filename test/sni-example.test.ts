/**
 * The source documents' scenario with examples/sni.config.ts: HTTP routed by Host on one
 * listener, HTTPS routed by SNI to a pool per host on another (no TLS termination), and the
 * PROXY protocol v2 to the HTTPS servers so they see the client's real address and port — the
 * one thing the documents' Go proxy could not do. Real TLS servers that parse the PROXY header,
 * and nginx as an HTTPS server with `listen ... ssl proxy_protocol`.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { loadConfigFile } from '../src/config/load.js';
import type { EpoxyConfig } from '../src/index.js';
import { cleanupsAfterEach, startProxy } from './fixtures.js';
import { freePort } from './helpers.js';
import { httpBackend, request, type HttpBackend } from './http-helpers.js';
import { PEER_TOOLS, ensureTools, httpGet, startNginxProxyProtocol, stopAllPeers, type PeerProcess } from './peer-procs.js';
import { makeCerts, parseReply, startTlsServer, tlsRequest, type Certs, type PeerServer } from './tls-peers.js';

const cleanups = cleanupsAfterEach();
let certs: Certs;
let api: PeerServer;
let www: PeerServer;
let web: HttpBackend;
let nginx: PeerProcess;

beforeAll(async () => {
  ensureTools(Object.values(PEER_TOOLS));
  certs = await makeCerts(['api.example.com', 'www.example.com', '*.example.com']);
  api = await startTlsServer({ name: 'api', certs, certName: 'api.example.com', proxyProtocol: 'v2' });
  www = await startTlsServer({ name: 'www', certs, certName: 'www.example.com', proxyProtocol: 'v2' });
  web = await httpBackend('web');
  nginx = await startNginxProxyProtocol({ http: false, tls: certs, tlsCertName: '*.example.com' });
}, 300_000);

afterAll(async () => {
  await api.close();
  await www.close();
  await web.close();
  await stopAllPeers();
});

async function start(wwwServer: string): Promise<{ http: number; https: number }> {
  const http = await freePort();
  const https = await freePort();
  Object.assign(process.env, {
    EPOXY_HTTP_BIND: `127.0.0.1:${http}`,
    EPOXY_HTTPS_BIND: `127.0.0.1:${https}`,
    EPOXY_WEB: web.address,
    EPOXY_WWW: wwwServer,
    EPOXY_API: api.address,
  });
  const config = (await loadConfigFile('examples/sni.config.ts')) as EpoxyConfig;
  await startProxy(config, cleanups);
  return { http, https };
}

describe('examples/sni.config.ts', () => {
  it('HTTP by Host; HTTPS by SNI to per-host pools; the HTTPS servers see the client\'s address', async () => {
    const { http, https } = await start(www.address);
    const r = await request(http, { headers: { host: 'www.example.com' } });
    expect(r.status).toBe(200);
    expect(r.headers['x-backend']).toBe('web');

    const a = await tlsRequest(https, { ca: certs.ca, servername: 'api.example.com', line: 'to api' });
    expect(parseReply(a.line)).toMatchObject({ name: 'api', sni: 'api.example.com', client: `127.0.0.1:${a.localPort}`, line: 'to api' });
    const w = await tlsRequest(https, { ca: certs.ca, servername: 'www.example.com', line: 'to www' });
    expect(parseReply(w.line)).toMatchObject({ name: 'www', client: `127.0.0.1:${w.localPort}` });
    // v2 carries the SNI as the AUTHORITY TLV (the pool's health checks connect too, with LOCAL).
    const proxied = api.connections.find((c) => c.lines.includes('to api'));
    expect(proxied?.proxy?.tlvs.authority).toBe('api.example.com');
  });

  it('nginx as the HTTPS server (ssl proxy_protocol) answers with the client\'s address', async () => {
    const { https } = await start(`127.0.0.1:${nginx.ports['https']!}`);
    const g = await httpGet(https, { tls: { ca: certs.ca, servername: 'shop.example.com' } });
    expect(g.status).toBe(200);
    expect(g.body).toContain(`addr=127.0.0.1 port=${g.localPort}`);
    expect(g.body).toContain('sni=shop.example.com');
  });
});
