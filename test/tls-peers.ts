/**
 * TLS and PROXY-protocol peers for tests, written here from the specs and independent of the
 * engine's own parsers: certificates (openssl CLI), servers that parse a PROXY header (v1/v2)
 * and then speak TLS or plain TCP, clients (node:tls and `openssl s_client`), captured and
 * rewritten ClientHellos, and a relay that fragments a real ClientHello on its way to a server.
 *
 * A barrel: the code lives in test/peers/ —
 *   tools.ts         peerEnv, ensureTools, privateTempDir, withTimeout, hostPort
 *   certs.ts         makeCerts, certNameMatches
 *   proxy-header.ts  PROXY protocol v1/v2 parser and builder, crc32c, IPv6 helpers, readProxyHeader
 *   client-hello.ts  TLS records, ClientHello parsing, capture and rewriting
 *   servers.ts       startProxyAwareServer, startTlsServer, parseReply (and the servers' line protocol)
 *   clients.ts       tlsConnect, tlsRequest, plainRequest, bulkDownload/bulkUpload, opensslClient
 *   relay.ts         startDribbleRelay
 */
export * from './peers/tools.js';
export * from './peers/certs.js';
export * from './peers/proxy-header.js';
export * from './peers/client-hello.js';
export * from './peers/servers.js';
export * from './peers/clients.js';
export * from './peers/relay.js';
