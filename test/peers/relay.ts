/**
 * A relay that fragments the client's first TLS record on its way to a server
 * (startDribbleRelay), with per-connection stats of how it wrote it.
 */
import { once } from 'node:events';
import * as net from 'node:net';

import { splitIntoRecords } from './client-hello.js';
import { hostPort } from './tools.js';

export type DribbleMode = 'bytewise' | 'two-records' | 'passthrough';

export interface RelayConnectionStats {
  /** Bytes of the client's first record (the ClientHello). */
  firstRecordBytes: number;
  /** Bytes of the prefix written before it. */
  prefixBytes: number;
  /** socket.write calls made for prefix + first record (bytewise: one per byte). */
  writes: number;
  /** Sizes (header included) of the records the first record was re-framed into. */
  records: number[];
}

export interface DribbleRelay {
  port: number;
  host: string;
  address: string;
  stats: RelayConnectionStats[];
  close(): Promise<void>;
}

export interface DribbleOptions {
  host?: string;
  targetHost?: string;
  /** Bytes sent to the target before the client's (e.g. a PROXY header): a Buffer or made per client. */
  prefix?: Buffer | ((client: net.Socket) => Buffer);
  /** two-records: handshake bytes in the first record (default: half). */
  splitAt?: number;
}

/**
 * A TCP relay between a TLS client and `targetPort` that waits for the client's first TLS record
 * and forwards it (after `prefix`, if any) fragmented, then pipes everything else unchanged:
 * 'bytewise' writes prefix + record one byte per write with setImmediate in between (Nagle off);
 * 'two-records' re-frames the record into two records (prefix + first in one write, the second
 * in the next); 'passthrough' writes prefix + record in one write. The handshake is real.
 */
export async function startDribbleRelay(targetPort: number, mode: DribbleMode, opts: DribbleOptions = {}): Promise<DribbleRelay> {
  const host = opts.host ?? '127.0.0.1';
  const targetHost = opts.targetHost ?? '127.0.0.1';
  const stats: RelayConnectionStats[] = [];
  const sockets = new Set<net.Socket>();
  const server = net.createServer({ allowHalfOpen: true }, (client) => {
    sockets.add(client);
    client.on('close', () => sockets.delete(client));
    const upstream = net.connect({ host: targetHost, port: targetPort, allowHalfOpen: true });
    sockets.add(upstream);
    upstream.on('close', () => sockets.delete(upstream));
    upstream.setNoDelay(true);
    const kill = () => {
      client.destroy();
      upstream.destroy();
    };
    client.on('error', kill);
    upstream.on('error', kill);
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
    const prefix = typeof opts.prefix === 'function' ? opts.prefix(client) : (opts.prefix ?? Buffer.alloc(0));
    const connected = once(upstream, 'connect');
    let buf = Buffer.alloc(0);
    const onData = (c: Buffer) => {
      buf = Buffer.concat([buf, c]);
      if (buf.length < 5) return;
      const recLen = 5 + buf.readUInt16BE(3);
      if (buf.length < recLen) return;
      client.off('data', onData);
      client.pause();
      const first = buf.subarray(0, recLen);
      const rest = buf.subarray(recLen);
      void (async () => {
        await connected;
        const st: RelayConnectionStats = { firstRecordBytes: first.length, prefixBytes: prefix.length, writes: 0, records: [] };
        stats.push(st);
        const write = async (b: Buffer) => {
          st.writes++;
          if (!upstream.write(b)) await once(upstream, 'drain');
          await new Promise((r) => setImmediate(r));
        };
        if (mode === 'bytewise') {
          const all = Buffer.concat([prefix, first]);
          for (let i = 0; i < all.length; i++) await write(all.subarray(i, i + 1));
          st.records.push(first.length);
        } else if (mode === 'two-records') {
          const hsLen = first.length - 5;
          const at = opts.splitAt ?? Math.floor(hsLen / 2);
          const framed = splitIntoRecords(first, [at]);
          const r1 = framed.subarray(0, 5 + at);
          const r2 = framed.subarray(5 + at);
          st.records.push(r1.length, r2.length);
          await write(Buffer.concat([prefix, r1]));
          await write(r2);
        } else {
          st.records.push(first.length);
          await write(Buffer.concat([prefix, first]));
        }
        if (rest.length) upstream.write(rest);
        client.pipe(upstream);
        client.resume();
      })().catch(kill);
    };
    client.on('data', onData);
    upstream.pipe(client);
  });
  server.listen(0, host);
  await once(server, 'listening');
  const { port } = server.address() as net.AddressInfo;
  return {
    port,
    host,
    address: hostPort(host, port),
    stats,
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
