// Differential test of epoxy's HTTP/1.1 request parser against Node's own llhttp (node:http,
// default options: strict mode). Each case of test/http-corpus.ts goes over a real TCP socket
// to an http.createServer() on 127.0.0.1, and through our parser (native/http via
// httpTesting). Where both accept, method, target, field lines, body bytes, trailers and the
// message's end must be identical. Every case where only one side rejects must be listed
// below, with the reason; the lists are compared exactly, so a new disagreement fails the test
// and so does an entry that no longer disagrees. HTTP_DIFF_DUMP=1 prints every disagreement
// with both sides' reasons.
import { once } from 'node:events';
import * as http from 'node:http';
import * as net from 'node:net';

import { afterAll, beforeAll, describe, expect, test } from 'vitest';

import { httpTesting, type ParsedRequest } from './native-testing.js';

import { buildCorpus, type CorpusCase } from './http-corpus.js';

/**
 * Cases llhttp accepts and we reject. Each is a message that two parsers could read two ways,
 * one the RFCs tell a proxy to refuse, or one past a limit we choose on purpose.
 */
const STRICTER_THAN_LLHTTP: Record<string, string> = {
  // RFC 9112 §2.2 lets a recipient accept a bare LF as a line end; a backend that does not
  // would see different lines. llhttp skips any CR/LF mix before the request line.
  'leading/bare-lf': 'bare LF before the request line',
  // Single SP only (RFC 9112 §3): a parser that splits on SP runs would read another target.
  'line/double-space-after-method': 'two spaces after the method',
  'line/double-space-before-version': 'two spaces before the version',
  // RFC 9112 §2.2 asks to skip empty lines (CRLF); a lone CR is a bare CR, which RFC 9112 §2.2
  // says to reject or replace with SP — never to skip.
  'leading/bare-cr': 'bare CR before the request line',
  // HTTP/0.9 (no version, no fields, no framing) is not HTTP/1: llhttp reads "GET /" as a 0.9
  // request; a backend reading 1.x lines would see the following lines differently.
  'line/no-version': 'request line without a version (HTTP/0.9)',
  'version/0.9': 'HTTP/0.9 (505)',
  // RFC 9112 §3.2.4: the asterisk-form is only for OPTIONS.
  'asterisk/get': '"*" target with GET',
  // RFC 9112 §3.2.3: CONNECT takes authority-form only (and only CONNECT does).
  'connect/origin-form': 'CONNECT with an origin-form target',
  // RFC 9112 §3.2.3: authority-form = uri-host ":" port — the port is not optional.
  'connect/no-port': 'CONNECT target without a port',
  // RFC 9110 §9.3.6: "A CONNECT request message does not have content"; framing fields on one
  // invite a parser that reads a body and one that starts the tunnel.
  'connect/content-length': 'CONNECT with Content-Length',
  // We only route http(s) absolute-form targets; anything else has no authority we understand.
  'absolute/ftp': 'absolute-form with a non-HTTP scheme',
  // RFC 9110 §4.2.4: userinfo is deprecated and a recipient SHOULD treat it as an error.
  'absolute/userinfo': 'userinfo in an absolute-form target',
  // No authority means nothing to route on (RFC 9110 §4.2.1: an http URI with an empty host is
  // invalid).
  'absolute/empty-authority': 'absolute-form target with an empty authority',
  // RFC 9112 §3.2.2: the target's authority wins over Host; a backend that routes on Host would
  // go elsewhere, so the two must agree.
  'absolute/host-mismatch': 'Host differs from the absolute-form authority',
  // RFC 9112 §3.2: "MUST respond with 400 ... more than one Host header field line".
  'host/duplicate-same': 'two Host fields',
  'host/duplicate-different': 'two different Host fields',
  'host/duplicate-1.0': 'two Host fields in HTTP/1.0',
  // RFC 9112 §3.2: 400 for "a Host header field with an invalid field value". These would
  // route by a name no DNS label or backend vhost agrees on.
  'host-bad/space': 'space in Host',
  'host-bad/userinfo': '"@" in Host',
  'host-bad/slash': '"/" in Host',
  'host-bad/bad-port': 'non-digit port in Host',
  'host-bad/backslash': '"\\" in Host',
  'host-bad/obs-text': 'non-ASCII in Host (IDNs travel as punycode)',
  'host-bad/query': '"?" in Host',
  // RFC 9112 §3.2 (request-target has no fragment); haproxy rejects '#' since CVE-2023-45539:
  // a path rule on "/admin" vs a backend that cuts at '#'.
  'target-bad/fragment': '"#" in the request-target',
  // RFC 9112 §6.1: "A server that receives a request message with a transfer coding it does not
  // understand SHOULD respond with 501". We never forward a coding we cannot frame ourselves.
  'te/gzip-chunked': 'gzip before chunked (501)',
  'te/gzip-then-chunked-fields': 'gzip then chunked in two fields (501)',
  // An empty list element in Transfer-Encoding: a parser that reads the field as a string
  // (",chunked" is not "chunked") frames the body differently.
  'te/leading-comma': 'empty element before chunked',
  // A Transfer-Encoding that names no coding: one parser ignores it, another expects chunked.
  'te/empty': 'empty Transfer-Encoding',
  // RFC 9112 §6.1: Transfer-Encoding in HTTP/1.0 means faulty framing (the rule).
  'te/http10': 'Transfer-Encoding in an HTTP/1.0 request',
  // A version we do not speak is 505 (RFC 9110 §15.6.6): llhttp accepts 2.0 on an HTTP/1 line.
  'version/2.0': 'HTTP/2.0 on an HTTP/1 request line (505)',
  // RFC 9112 §7.1: chunk-size is 1*HEXDIG; we cap it at 16 digits (64 bits) even with leading
  // zeros, so no decoder can wrap around on a long run of zeros.
  'chunked-bad/size-leading-zeros-17': '17 hex digits in a chunk size',
  // RFC 9112 §7.1.1: chunk-ext-val = token / quoted-string, never empty. Chunk extensions are
  // where 2024's chunked-smuggling findings lived; we accept the grammar and nothing more.
  'chunked-bad/ext-empty-value': 'chunk extension with an empty value ("5;a=")',
  // Our configurable field-line limit (Limits::max_headers, 100 like haproxy's 101 with the
  // start line); llhttp has none (node keeps the first 2000).
  'limit/101-fields': '101 field lines (431)',
};

/**
 * Cases llhttp rejects and we accept. Each is unambiguous: no second reading exists.
 */
const LAXER_THAN_LLHTTP: Record<string, string> = {
  // RFC 9110 §9.1: methods are extensible tokens; llhttp rejects any method not in its table.
  // A token cannot be read two ways; whether the backend implements it is its call (501).
  'method-ext/FOO': 'extension method',
  'method-ext/get': 'extension method (methods are case-sensitive, "get" is not GET)',
  'method-ext/Get': 'extension method',
  'method-ext/GET2': 'extension method',
  // RFC 9110 §8.6: identical Content-Length values, repeated or as a list, MAY be accepted as
  // one; every reading of "5, 5" or two "5" fields gives the same length.
  'cl/duplicate-same': 'two identical Content-Length fields',
  'cl/list-same': 'Content-Length: 5, 5',
  // RFC 9110 §6.5.1: we drop framing fields from trailers rather than failing the request
  // (its head is already forwarded); the backend never sees them.
  'chunked/trailer-content-length': 'Content-Length in the trailers (dropped, not forwarded)',
  'chunked/trailer-transfer-encoding': 'Transfer-Encoding in the trailers (dropped, not forwarded)',
  // Not a parse error: node's server answers 417 itself to an unknown expectation (RFC 9110
  // §10.1.1 MAY). A proxy forwards it; the origin server decides.
  'expect/other': 'Expect other than 100-continue (node answers 417)',
};

interface Verdict {
  accepted: boolean;
  reason?: string;
  method?: string;
  target?: string;
  headers?: string[];
  body?: string;
  trailers?: string[];
  /** The head is followed by a tunnel (CONNECT, upgrade): no body is compared. */
  tunnel?: boolean;
  /** node only: something came after the first message (a second message or an error). */
  extra?: boolean;
}

/** Our reading of `raw`: the head, then the body by the head's framing. */
function ours(raw: Buffer): Verdict {
  const r = httpTesting.parseRequest(raw);
  if (r.status !== 'done') return { accepted: false, reason: r.error?.reason ?? r.status };
  const p = r as ParsedRequest;
  const v: Verdict = { accepted: true, method: p.method, target: p.target, headers: p.headers.flat(), trailers: [] };
  if (p.method === 'CONNECT' || p.upgrade) return { ...v, tunnel: true, body: '' };
  let end = p.headLen;
  if (p.framing === 'content-length') {
    end += Number(p.contentLength);
    if (end > raw.length) return { accepted: false, reason: 'incomplete body' };
    v.body = raw.subarray(p.headLen, end).toString('latin1');
  } else if (p.framing === 'chunked') {
    const d = httpTesting.decodeChunked(raw.subarray(p.headLen));
    if (d.status !== 'done') return { accepted: false, reason: d.error?.reason ?? 'incomplete chunked body' };
    v.body = d.data.toString('latin1');
    v.trailers = d.trailers.flat();
    end += d.consumed;
  } else {
    v.body = '';
  }
  // Every corpus case is one complete message: bytes left over mean a framing disagreement.
  v.extra = end !== raw.length;
  return v;
}

/** llhttp's reading, through a real node:http server. */
class NodeSide {
  private server = http.createServer();
  private byPort = new Map<number, Verdict & { req?: http.IncomingMessage }>();
  port = 0;

  async start() {
    this.server.on('request', (req: http.IncomingMessage) => {
      const v = this.record(req.socket);
      if (v.req) {
        v.extra = true;  // a second message: the first one ended earlier than we think
        return;
      }
      Object.assign(v, { req, method: req.method, target: req.url, headers: req.rawHeaders });
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('error', () => {});
      req.on('end', () => {
        v.accepted = true;
        v.body = Buffer.concat(chunks).toString('latin1');
        v.trailers = req.rawTrailers;
        setImmediate(() => req.socket.destroy());  // let a pending parse error surface first
      });
    });
    const tunnel = (req: http.IncomingMessage, socket: net.Socket) => {
      const v = this.record(socket);
      Object.assign(v, { accepted: true, tunnel: true, method: req.method, target: req.url, headers: req.rawHeaders, body: '', trailers: [] });
      socket.destroy();
    };
    this.server.on('connect', tunnel);
    this.server.on('upgrade', tunnel);
    this.server.on('clientError', (err: NodeJS.ErrnoException, socket: net.Socket) => {
      const v = this.record(socket);
      if (v.req?.complete) v.extra = true;
      else v.reason ??= err.code ?? err.message;
      setImmediate(() => socket.destroy());
    });
    this.server.listen(0, '127.0.0.1');
    await once(this.server, 'listening');
    this.port = (this.server.address() as net.AddressInfo).port;
  }

  private record(socket: net.Socket) {
    const key = socket.remotePort ?? -1;
    let v = this.byPort.get(key);
    if (!v) {
      v = { accepted: false };
      this.byPort.set(key, v);
    }
    return v;
  }

  /** Sends `raw`, half-closes, waits until the server closes (or 3 s), returns node's verdict. */
  async verdict(raw: Buffer): Promise<Verdict> {
    const localPort = await new Promise<number>((resolve) => {
      const s = net.connect(this.port, '127.0.0.1');
      let port = -1;
      const timer = setTimeout(() => s.destroy(), 3000);
      s.on('connect', () => {
        port = s.localPort ?? -1;
        s.end(raw);
      });
      s.on('data', () => {});
      s.on('error', () => {});
      s.on('close', () => {
        clearTimeout(timer);
        resolve(port);
      });
    });
    await new Promise((r) => setImmediate(r));
    const v = this.byPort.get(localPort) ?? { accepted: false, reason: 'answered without an event (e.g. missing Host)' };
    this.byPort.delete(localPort);
    const { req: _req, ...plain } = v;
    if (plain.accepted && !plain.tunnel && !_req?.complete) return { accepted: false, reason: 'incomplete' };
    return plain;
  }

  async stop() {
    this.server.close();
    this.server.closeAllConnections();
    await once(this.server, 'close');
  }
}

interface Outcome {
  name: string;
  ours: Verdict;
  node: Verdict;
}

describe('differential: epoxy vs llhttp (node:http)', () => {
  const corpus: CorpusCase[] = buildCorpus();
  const outcomes: Outcome[] = [];
  const node = new NodeSide();

  beforeAll(async () => {
    await node.start();
    for (const c of corpus) {
      const raw = Buffer.from(c.raw, 'latin1');
      outcomes.push({ name: c.name, ours: ours(raw), node: await node.verdict(raw) });
    }
  }, 120_000);

  afterAll(() => node.stop());

  if (process.env['HTTP_DIFF_DUMP']) {
    test('dump', () => {
      const both = outcomes.filter((o) => o.ours.accepted && o.node.accepted);
      console.log('cases', outcomes.length, 'both accept', both.length, 'with body', both.filter((o) => o.node.body).length,
        'with trailers', both.filter((o) => o.node.trailers?.length).length, 'tunnel', both.filter((o) => o.node.tunnel).length,
        'both reject', outcomes.filter((o) => !o.ours.accepted && !o.node.accepted).length);
      for (const o of outcomes) {
        if (o.ours.accepted !== o.node.accepted) console.log(o.name, 'ours:', o.ours.accepted, o.ours.reason ?? '', '| node:', o.node.accepted, o.node.reason ?? '');
      }
    });
  }

  test('the corpus has a few hundred valid and invalid requests', () => {
    expect(corpus.length).toBeGreaterThanOrEqual(250);
    const bothAccept = outcomes.filter((o) => o.ours.accepted && o.node.accepted).length;
    const bothReject = outcomes.filter((o) => !o.ours.accepted && !o.node.accepted).length;
    expect(bothAccept).toBeGreaterThanOrEqual(100);
    expect(bothReject).toBeGreaterThanOrEqual(80);
  });

  test('where both accept, method, target, fields, body and trailers are identical', () => {
    const json = (x: unknown) => JSON.stringify(x);
    const agree = (a: Verdict, n: Verdict) =>
      a.method === n.method && a.target === n.target && json(a.headers) === json(n.headers) &&
      !!a.tunnel === !!n.tunnel && !a.extra && !n.extra &&
      (!!a.tunnel || (a.body === n.body && json(a.trailers) === json(n.trailers)));
    const differing = outcomes.filter((o) => o.ours.accepted && o.node.accepted && !agree(o.ours, o.node));
    expect(differing).toEqual([]);
  });

  test('every case where we are stricter than llhttp is listed and justified', () => {
    const stricter = outcomes.filter((o) => !o.ours.accepted && o.node.accepted).map((o) => o.name);
    expect(stricter.sort()).toEqual(Object.keys(STRICTER_THAN_LLHTTP).sort());
  });

  test('every case where llhttp is stricter than we are is listed and justified', () => {
    const laxer = outcomes.filter((o) => o.ours.accepted && !o.node.accepted).map((o) => o.name);
    expect(laxer.sort()).toEqual(Object.keys(LAXER_THAN_LLHTTP).sort());
  });
});
