// Unit tests of native/http (the strict HTTP/1.1 head parser and the chunked decoder) through
// the test-only binding in native/addon/http_testing.cc: RFC 9110/9112 examples, one test per
// rejection rule, limits, incremental use, the response framing matrix, chunked framing.
import { describe, expect, test } from 'vitest';

import {
  httpTesting as http,
  type ParsedRequest,
  type ParsedResponse,
  type ParseOptions,
} from '../src/native-testing.js';

const b = (s: string) => Buffer.from(s, 'latin1');

function request(s: string, o?: ParseOptions): ParsedRequest {
  const r = http.parseRequest(b(s), o);
  expect(r.status, JSON.stringify(r)).toBe('done');
  return r as ParsedRequest;
}

/** Asserts a rejection with `status`; returns the reason for finer checks. */
function rejected(s: string, status = 400, o?: ParseOptions): string {
  const r = http.parseRequest(b(s), o);
  expect(r.status, JSON.stringify(r)).toBe('error');
  expect(r.error?.status, r.error?.reason).toBe(status);
  return r.error?.reason ?? '';
}

function response(s: string, method = 'GET', o?: ParseOptions): ParsedResponse {
  const r = http.parseResponse(b(s), method, o);
  expect(r.status, JSON.stringify(r)).toBe('done');
  return r as ParsedResponse;
}

function responseRejected(s: string, method = 'GET'): string {
  const r = http.parseResponse(b(s), method);
  expect(r.status, JSON.stringify(r)).toBe('error');
  expect(r.error?.status).toBe(502);
  return r.error?.reason ?? '';
}

/** A GET with the given field lines (each ending in CRLF) after a Host. */
const get = (fields = '', version = '1.1') => `GET / HTTP/${version}\r\nHost: a.example\r\n${fields}\r\n`;
const post = (fields: string, version = '1.1') => `POST /p HTTP/${version}\r\nHost: a.example\r\n${fields}\r\n`;

describe('RFC examples', () => {
  test('RFC 9112 §2.1 request', () => {
    const s =
      'GET /hello.txt HTTP/1.1\r\nUser-Agent: curl/7.64.1 libcurl/7.64.1 OpenSSL/1.1.1b zlib/1.2.11\r\n' +
      'Host: www.example.com\r\nAccept-Language: en, mi\r\n\r\n';
    const r = request(s);
    expect(r).toMatchObject({
      method: 'GET', target: '/hello.txt', minor: 1, framing: 'none', keepAlive: true, host: 'www.example.com',
      headLen: s.length, expectContinue: false, upgrade: false,
    });
    expect(r.headers).toEqual([
      ['User-Agent', 'curl/7.64.1 libcurl/7.64.1 OpenSSL/1.1.1b zlib/1.2.11'],
      ['Host', 'www.example.com'],
      ['Accept-Language', 'en, mi'],
    ]);
  });

  test('RFC 9112 §2.1 response', () => {
    const s =
      'HTTP/1.1 200 OK\r\nDate: Mon, 27 Jul 2009 12:28:53 GMT\r\nServer: Apache\r\n' +
      'Last-Modified: Wed, 22 Jul 2009 19:15:56 GMT\r\nETag: "34aa387-d-1568eb00"\r\nAccept-Ranges: bytes\r\n' +
      'Content-Length: 51\r\nVary: Accept-Encoding\r\nContent-Type: text/plain\r\n\r\n';
    const r = response(s + 'Hello World! My content includes a trailing CRLF.\r\n');
    expect(r).toMatchObject({ statusCode: 200, reason: 'OK', framing: 'content-length', contentLength: 51, headLen: s.length });
    expect(r.headers).toHaveLength(8);
    expect(r.headers[3]).toEqual(['ETag', '"34aa387-d-1568eb00"']);
  });

  test('RFC 9112 §3.2.1 origin-form', () => {
    expect(request('GET /where?q=now HTTP/1.1\r\nHost: www.example.org\r\n\r\n')).toMatchObject({
      target: '/where?q=now', host: 'www.example.org',
    });
  });

  test('RFC 9112 §3.2.2 absolute-form: the authority is the host', () => {
    const r = request('GET http://www.example.org/pub/WWW/TheProject.html HTTP/1.1\r\nHost: www.example.org\r\n\r\n');
    expect(r).toMatchObject({ target: 'http://www.example.org/pub/WWW/TheProject.html', host: 'www.example.org' });
    expect(request('GET HTTPS://WWW.example.org:8443?x HTTP/1.1\r\nHost: www.EXAMPLE.org:8443\r\n\r\n').host).toBe(
      'WWW.example.org:8443',
    );
  });

  test('RFC 9112 §3.2.3 authority-form with CONNECT', () => {
    const r = request('CONNECT www.example.com:80 HTTP/1.1\r\nHost: www.example.com:80\r\n\r\n');
    expect(r).toMatchObject({ method: 'CONNECT', target: 'www.example.com:80', host: 'www.example.com:80', framing: 'none' });
  });

  test('RFC 9112 §3.2.4 asterisk-form with OPTIONS', () => {
    expect(request('OPTIONS * HTTP/1.1\r\nHost: www.example.org:8001\r\n\r\n')).toMatchObject({ target: '*' });
  });

  test('RFC 9112 §7.1 chunked body', () => {
    const r = http.decodeChunked(b('4\r\nWiki\r\n7\r\npedia i\r\nB\r\nn \r\nchunks.\r\n0\r\n\r\n'));
    expect(r.status).toBe('done');
    expect(r.data.toString()).toBe('Wikipedia in \r\nchunks.');
  });

  test('RFC 9110 §5.5 field values: OWS trimmed, inner whitespace and obs-text kept', () => {
    const r = request(get('X-A:  a \t b\t \r\nX-B:\r\nX-C: caf\xe9\r\nX-D:1\r\n'));
    expect(r.headers.slice(1)).toEqual([['X-A', 'a \t b'], ['X-B', ''], ['X-C', 'caf\xe9'], ['X-D', '1']]);
  });

  test('field names keep their case; duplicates are kept in order', () => {
    const r = request(get('x-Y: 1\r\nX-y: 2\r\n'));
    expect(r.headers.slice(1)).toEqual([['x-Y', '1'], ['X-y', '2']]);
  });

  test('extension methods are tokens (RFC 9110 §9.1)', () => {
    expect(request('PROPFIND /d HTTP/1.1\r\nHost: a\r\n\r\n').method).toBe('PROPFIND');
    expect(request('M-SEARCH! /d HTTP/1.1\r\nHost: a\r\n\r\n').method).toBe('M-SEARCH!');
  });

  test('HTTP/1.0 may omit Host', () => {
    expect(request('GET / HTTP/1.0\r\n\r\n')).toMatchObject({ minor: 0, host: '', keepAlive: false });
  });

  test('empty Host is allowed (RFC 9112 §3.2)', () => {
    expect(request('GET / HTTP/1.1\r\nHost:\r\n\r\n').host).toBe('');
  });

  test('leading empty lines (CRLF) are skipped and counted in headLen (RFC 9112 §2.2)', () => {
    const s = '\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n';
    expect(request(s)).toMatchObject({ method: 'GET', headLen: s.length });
  });

  test('bytes after the head are not part of it', () => {
    const head = post('Content-Length: 5\r\n');
    expect(request(head + 'hello' + 'GET / HTTP/1.1\r\n')).toMatchObject({ headLen: head.length, framing: 'content-length', contentLength: 5 });
  });
});

describe('connection handling fields', () => {
  test.each([
    ['1.1 default', get(), true],
    ['1.1 close', get('Connection: close\r\n'), false],
    ['1.1 close in a list, any case', get('Connection: foo, CLOSE\r\n'), false],
    ['1.1 close in a second field', get('Connection: foo\r\nConnection: Close\r\n'), false],
    ['1.0 default', get('', '1.0'), false],
    ['1.0 keep-alive', get('Connection: Keep-Alive\r\n', '1.0'), true],
    ['1.0 keep-alive in a list', get('Connection: x ,keep-alive\r\n', '1.0'), true],
    ['close wins over keep-alive', get('Connection: keep-alive, close\r\n'), false],
  ])('keep-alive: %s', (_name, s, keepAlive) => {
    expect(request(s).keepAlive).toBe(keepAlive);
  });

  test('Expect: 100-continue in HTTP/1.1, ignored in 1.0 (RFC 9110 §10.1.1)', () => {
    expect(request(post('Content-Length: 3\r\nExpect: 100-Continue\r\n')).expectContinue).toBe(true);
    expect(request(post('Content-Length: 3\r\nExpect: 100-continue\r\n', '1.0')).expectContinue).toBe(false);
    expect(request(post('Content-Length: 3\r\nExpect: something\r\n')).expectContinue).toBe(false);
  });

  test('upgrade needs Connection: upgrade and an Upgrade field, in HTTP/1.1', () => {
    expect(request(get('Connection: Upgrade\r\nUpgrade: websocket\r\n')).upgrade).toBe(true);
    expect(request(get('Upgrade: websocket\r\n')).upgrade).toBe(false);
    expect(request(get('Connection: upgrade\r\n')).upgrade).toBe(false);
    expect(request(get('Connection: upgrade\r\nUpgrade: websocket\r\n', '1.0')).upgrade).toBe(false);
  });
});

describe('body framing of requests', () => {
  test('no body without Content-Length or Transfer-Encoding', () => {
    expect(request(post('')).framing).toBe('none');
  });
  test('Content-Length', () => {
    expect(request(post('Content-Length: 0\r\n'))).toMatchObject({ framing: 'content-length', contentLength: 0 });
    expect(request(post('content-length: 0042\r\n'))).toMatchObject({ framing: 'content-length', contentLength: 42 });
  });
  test('Content-Length up to 2^64-1', () => {
    expect(request(post('Content-Length: 18446744073709551615\r\n')).contentLength).toBe('18446744073709551615');
  });
  test('identical duplicate Content-Length, as fields or a list (RFC 9110 §8.6)', () => {
    expect(request(post('Content-Length: 5\r\nContent-Length: 5\r\n')).contentLength).toBe(5);
    expect(request(post('Content-Length: 5, 5\r\n')).contentLength).toBe(5);
    expect(request(post('Content-Length: 5,05 ,5\r\n')).contentLength).toBe(5);
  });
  test('chunked, any case, OWS tolerated', () => {
    expect(request(post('Transfer-Encoding: chunked\r\n')).framing).toBe('chunked');
    expect(request(post('transfer-encoding:  CHUNKED \r\n')).framing).toBe('chunked');
  });
});

describe('rejections (400 unless noted)', () => {
  test.each<[string, string, number?]>([
    // framing
    ['Content-Length with Transfer-Encoding', post('Content-Length: 5\r\nTransfer-Encoding: chunked\r\n')],
    ['Transfer-Encoding with Content-Length', post('Transfer-Encoding: chunked\r\nContent-Length: 0\r\n')],
    ['differing duplicate Content-Length', post('Content-Length: 5\r\nContent-Length: 6\r\n')],
    ['differing Content-Length list', post('Content-Length: 5, 6\r\n')],
    ['Content-Length with a sign', post('Content-Length: +5\r\n')],
    ['negative Content-Length', post('Content-Length: -1\r\n')],
    ['hex Content-Length', post('Content-Length: 0x5\r\n')],
    ['Content-Length with inner space', post('Content-Length: 5 5\r\n')],
    ['empty Content-Length', post('Content-Length: \r\n')],
    ['empty Content-Length list element', post('Content-Length: 5,\r\n')],
    ['Content-Length overflow', post('Content-Length: 18446744073709551616\r\n')],
    ['Content-Length of 20 nines', post('Content-Length: 99999999999999999999\r\n')],
    ['Transfer-Encoding with chunked not last', post('Transfer-Encoding: chunked, gzip\r\n')],
    ['Transfer-Encoding without chunked', post('Transfer-Encoding: gzip\r\n')],
    ['Transfer-Encoding other than chunked, e.g. identity', post('Transfer-Encoding: identity\r\n')],
    ['Transfer-Encoding: xchunked', post('Transfer-Encoding: xchunked\r\n')],
    ['Transfer-Encoding: chunked twice in a list', post('Transfer-Encoding: chunked, chunked\r\n')],
    ['Transfer-Encoding: chunked in two fields', post('Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n')],
    ['Transfer-Encoding: chunked with parameters', post('Transfer-Encoding: chunked;q=1\r\n')],
    ['Transfer-Encoding with an empty element', post('Transfer-Encoding: ,chunked\r\n')],
    ['empty Transfer-Encoding', post('Transfer-Encoding:\r\n')],
    ['Transfer-Encoding: gzip, chunked (501)', post('Transfer-Encoding: gzip, chunked\r\n'), 501],
    ['Transfer-Encoding gzip then chunked in two fields (501)', post('Transfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n'), 501],
    ['Transfer-Encoding in an HTTP/1.0 request', post('Transfer-Encoding: chunked\r\n', '1.0')],
    ['CONNECT with Content-Length', 'CONNECT a.example:443 HTTP/1.1\r\nHost: a.example:443\r\nContent-Length: 0\r\n\r\n'],
    ['CONNECT with Transfer-Encoding', 'CONNECT a.example:443 HTTP/1.1\r\nHost: a.example:443\r\nTransfer-Encoding: chunked\r\n\r\n'],
    // field syntax
    ['obs-fold', get('X-A: a\r\n b\r\n')],
    ['obs-fold with HTAB', get('X-A: a\r\n\tb\r\n')],
    ['whitespace before the first field line', 'GET / HTTP/1.1\r\n Host: a\r\n\r\n'],
    ['whitespace before the colon', get('X-A : a\r\n')],
    ['HTAB before the colon', get('X-A\t: a\r\n')],
    ['whitespace before the colon of Content-Length', post('Content-Length : 5\r\n')],
    ['field line without a colon', get('X-A\r\n')],
    ['empty field name', get(': a\r\n')],
    ['non-token field name', get('X(A): a\r\n')],
    ['obs-text in a field name', get('X-\xe9: a\r\n')],
    ['NUL in a field value', get('X-A: a\0b\r\n')],
    ['NUL in a field name', get('X-\0A: a\r\n')],
    ['CTL 0x01 in a field value', get('X-A: a\x01b\r\n')],
    ['VT in a field value', get('X-A: a\x0bb\r\n')],
    ['ESC in a field value', get('X-A: \x1b[31m\r\n')],
    ['DEL in a field value', get('X-A: a\x7fb\r\n')],
    // line endings
    ['bare CR in a field value', get('X-A: a\rb\r\n')],
    ['bare CR at the end of a value', get('X-A: a\r\r\n')],
    ['bare CR in the request line', 'GET /\r HTTP/1.1\r\nHost: a\r\n\r\n'],
    ['bare LF ending a field line', 'GET / HTTP/1.1\r\nHost: a\nX-A: b\r\n\r\n'],
    ['bare LF ending the request line', 'GET / HTTP/1.1\nHost: a\r\n\r\n'],
    ['bare LF as the final empty line', 'GET / HTTP/1.1\r\nHost: a\r\n\n'],
    ['bare LFs throughout', 'GET / HTTP/1.1\nHost: a\n\n'],
    ['bare LF before the request line', '\nGET / HTTP/1.1\r\nHost: a\r\n\r\n'],
    // Host
    ['missing Host in HTTP/1.1', 'GET / HTTP/1.1\r\n\r\n'],
    ['duplicate Host', get('Host: b.example\r\n')],
    ['duplicate Host in HTTP/1.0', 'GET / HTTP/1.0\r\nHost: a\r\nHost: a\r\n\r\n'],
    ['Host with a space', 'GET / HTTP/1.1\r\nHost: a b\r\n\r\n'],
    ['Host with userinfo', 'GET / HTTP/1.1\r\nHost: u@a\r\n\r\n'],
    ['Host with a path', 'GET / HTTP/1.1\r\nHost: a/b\r\n\r\n'],
    ['Host with a bad port', 'GET / HTTP/1.1\r\nHost: a:8x\r\n\r\n'],
    // request line
    ['double space after the method', 'GET  / HTTP/1.1\r\nHost: a\r\n\r\n'],
    ['HTAB as separator', 'GET\t/ HTTP/1.1\r\nHost: a\r\n\r\n'],
    ['trailing space after the version', 'GET / HTTP/1.1 \r\nHost: a\r\n\r\n'],
    ['leading space before the method', ' GET / HTTP/1.1\r\nHost: a\r\n\r\n'],
    ['missing version (HTTP/0.9)', 'GET /\r\nHost: a\r\n\r\n'],
    ['lowercase version', 'GET / http/1.1\r\nHost: a\r\n\r\n'],
    ['malformed version', 'GET / HTTP/1.10\r\nHost: a\r\n\r\n'],
    ['HTTP/1.2 (505)', 'GET / HTTP/1.2\r\nHost: a\r\n\r\n', 505],
    ['HTTP/2.0 (505)', 'GET / HTTP/2.0\r\nHost: a\r\n\r\n', 505],
    ['HTTP/2 preface (505)', 'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 505],
    ['non-token method', 'GE(T / HTTP/1.1\r\nHost: a\r\n\r\n'],
    ['fragment in the target', 'GET /a#b HTTP/1.1\r\nHost: a\r\n\r\n'],
    ['obs-text in the target', 'GET /caf\xe9 HTTP/1.1\r\nHost: a\r\n\r\n'],
    ['NUL in the target', 'GET /a\0 HTTP/1.1\r\nHost: a\r\n\r\n'],
    ['DEL in the target', 'GET /a\x7f HTTP/1.1\r\nHost: a\r\n\r\n'],
    ['asterisk-form with GET', 'GET * HTTP/1.1\r\nHost: a\r\n\r\n'],
    ['authority-form with GET', 'GET a.example:80 HTTP/1.1\r\nHost: a.example:80\r\n\r\n'],
    ['CONNECT with origin-form', 'CONNECT / HTTP/1.1\r\nHost: a\r\n\r\n'],
    ['CONNECT without a port', 'CONNECT a.example HTTP/1.1\r\nHost: a.example\r\n\r\n'],
    ['absolute-form with another scheme', 'GET ftp://a.example/ HTTP/1.1\r\nHost: a.example\r\n\r\n'],
    ['absolute-form with userinfo', 'GET http://u@a.example/ HTTP/1.1\r\nHost: a.example\r\n\r\n'],
    ['absolute-form with an empty authority', 'GET http:///x HTTP/1.1\r\nHost: a.example\r\n\r\n'],
    ['absolute-form whose Host differs', 'GET http://a.example/ HTTP/1.1\r\nHost: b.example\r\n\r\n'],
  ])('%s', (_name, s, status = 400) => {
    rejected(s, status);
  });

  test('reasons name the rule', () => {
    expect(rejected(get('X-A: a\rb\r\n'))).toBe('bare CR');
    expect(rejected(get('X-A: a\0b\r\n'))).toBe('NUL byte');
    expect(rejected(get('X-A: a\r\n b\r\n'))).toMatch(/obs-fold/);
    expect(rejected(get('X-A : a\r\n'))).toMatch(/before the colon/);
    expect(rejected('GET / HTTP/1.1\nHost: a\r\n\r\n')).toMatch(/bare LF/);
    expect(rejected(post('Content-Length: 5\r\nTransfer-Encoding: chunked\r\n'))).toMatch(/Content-Length with Transfer-Encoding/);
  });

  test('an invalid complete line is reported before the head is complete', () => {
    expect(http.parseRequest(b('GET / HTTP/1.1\r\nX-A : a\r\nHost: a\r\n')).status).toBe('error');
    expect(http.parseRequest(b('GET / HTTP/1.1\r\nX-A: a\r\nHost: a\r\n')).status).toBe('incomplete');
  });
});

describe('limits', () => {
  const big = (n: number) => {
    const prefix = 'GET / HTTP/1.1\r\nHost: a\r\nX-Pad: ';
    return prefix + 'x'.repeat(n - prefix.length - 4) + '\r\n\r\n';
  };

  test('a head of exactly max_head bytes is accepted', () => {
    expect(big(16384).length).toBe(16384);
    expect(request(big(16384)).headLen).toBe(16384);
  });

  test('one byte more is 431', () => {
    expect(rejected(big(16385), 431)).toMatch(/too large/);
  });

  test('an unfinished head is incomplete below max_head and 431 from it on', () => {
    const partial = big(20000).slice(0, 16383);
    expect(http.parseRequest(b(partial)).status).toBe('incomplete');
    rejected(big(20000).slice(0, 16384), 431);
  });

  test('max_head is configurable', () => {
    rejected(get('X-A: 12345678901234567890\r\n'), 431, { maxHead: 40 });
    expect(request(get('X-A: 1\r\n'), { maxHead: 64 }).headers).toHaveLength(2);
  });

  test('too many field lines is 431; max_headers is configurable', () => {
    const fields = (n: number) => Array.from({ length: n }, (_, i) => `X-${i}: ${i}\r\n`).join('');
    expect(request(get(fields(99))).headers).toHaveLength(100);
    rejected(get(fields(100)), 431);
    rejected(get(fields(3)), 431, { maxHeaders: 3 });
  });
});

describe('incremental use', () => {
  const s = '\r\nPOST /upload HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc';
  const headLen = s.indexOf('abc');

  test.each([1, 2, 3, 7, 1000])('find_head_end with %i-byte pieces finds the same end', (piece) => {
    const r = http.findHeadEnd(b(s), piece);
    expect(r.end).toBe(headLen);
    expect(r.arrived).toBeGreaterThanOrEqual(headLen);
  });

  test('find_head_end scans each byte once: a head arriving byte by byte is found at its last byte', () => {
    const r = http.findHeadEnd(b(s), 1);
    expect(r).toEqual({ end: headLen, calls: headLen, arrived: headLen });
  });

  test('an empty buffer is incomplete', () => {
    expect(http.parseRequest(Buffer.alloc(0)).status).toBe('incomplete');
    expect(http.parseResponse(Buffer.alloc(0), 'GET').status).toBe('incomplete');
    expect(http.findHeadEnd(Buffer.alloc(0)).end).toBe(0);
  });

  test('find_head_end waits while the head is incomplete', () => {
    expect(http.findHeadEnd(b('GET / HTTP/1.1\r\nHost: a\r\n\r')).end).toBe(0);
    expect(http.findHeadEnd(b('\r\n\r\n')).end).toBe(0);
  });

  test('find_head_end hands a bare-LF head to the parser, which rejects it', () => {
    const lf = 'GET / HTTP/1.1\nHost: a\n\nrest';
    const r = http.findHeadEnd(b(lf), 1);
    expect(r.end).toBe(lf.indexOf('rest'));
    rejected(lf.slice(0, r.end));
  });

  test('every prefix of a valid request is incomplete, never an error', () => {
    for (let n = 0; n < headLen; n++) expect(http.parseRequest(b(s.slice(0, n))).status, `prefix ${n}`).toBe('incomplete');
    expect(request(s.slice(0, headLen)).headLen).toBe(headLen);
  });
});

describe('response framing (RFC 9112 §6.3)', () => {
  const resp = (status: string, fields = '', version = '1.1') => `HTTP/${version} ${status}\r\n${fields}\r\n`;

  test.each<[string, string, string, Partial<ParsedResponse>]>([
    ['HEAD with Content-Length', 'HEAD', resp('200 OK', 'Content-Length: 10\r\n'), { framing: 'none', contentLength: 10, keepAlive: true }],
    ['HEAD with chunked', 'HEAD', resp('200 OK', 'Transfer-Encoding: chunked\r\n'), { framing: 'none' }],
    ['100 Continue', 'POST', resp('100 Continue'), { framing: 'none', tunnel: false }],
    ['103 Early Hints', 'GET', resp('103 Early Hints', 'Link: </s.css>\r\n'), { framing: 'none' }],
    ['101 Switching Protocols', 'GET', resp('101 Switching Protocols', 'Connection: upgrade\r\nUpgrade: websocket\r\n'), { framing: 'none', upgrade: true, tunnel: true, keepAlive: false }],
    ['204 with Content-Length', 'GET', resp('204 No Content', 'Content-Length: 10\r\n'), { framing: 'none' }],
    ['304', 'GET', resp('304 Not Modified', 'Content-Length: 10\r\n'), { framing: 'none' }],
    ['Content-Length', 'GET', resp('200 OK', 'Content-Length: 10\r\n'), { framing: 'content-length', contentLength: 10, keepAlive: true }],
    ['chunked', 'GET', resp('200 OK', 'Transfer-Encoding: chunked\r\n'), { framing: 'chunked', keepAlive: true }],
    ['gzip, chunked (the coding is the client\'s business)', 'GET', resp('200 OK', 'Transfer-Encoding: gzip, chunked\r\n'), { framing: 'chunked' }],
    ['Transfer-Encoding without final chunked', 'GET', resp('200 OK', 'Transfer-Encoding: gzip\r\n'), { framing: 'until-close', keepAlive: false }],
    ['neither', 'GET', resp('200 OK'), { framing: 'until-close', keepAlive: false }],
    ['2xx to CONNECT', 'CONNECT', resp('200 Connection established'), { framing: 'none', tunnel: true, upgrade: false, keepAlive: false }],
    ['4xx to CONNECT has a body', 'CONNECT', resp('407 Proxy Auth', 'Content-Length: 3\r\n'), { framing: 'content-length', tunnel: false }],
    ['HTTP/1.0 with Content-Length closes', 'GET', resp('200 OK', 'Content-Length: 1\r\n', '1.0'), { framing: 'content-length', keepAlive: false, minor: 0 }],
    ['HTTP/1.0 keep-alive', 'GET', resp('200 OK', 'Content-Length: 1\r\nConnection: keep-alive\r\n', '1.0'), { keepAlive: true }],
    ['Connection: close', 'GET', resp('200 OK', 'Content-Length: 1\r\nConnection: close\r\n'), { keepAlive: false }],
    ['missing reason phrase', 'GET', 'HTTP/1.1 200\r\nContent-Length: 0\r\n\r\n', { statusCode: 200, reason: '' }],
    ['empty reason phrase', 'GET', 'HTTP/1.1 404 \r\nContent-Length: 0\r\n\r\n', { statusCode: 404, reason: '' }],
    ['status 999', 'GET', resp('999 Odd', 'Content-Length: 0\r\n'), { statusCode: 999 }],
  ])('%s', (_name, method, s, expected) => {
    const r = response(s, method);
    expect(r).toMatchObject(expected);
    expect(r.headLen).toBe(s.length);
  });

  test.each([
    ['Content-Length with Transfer-Encoding', 'HTTP/1.1 200 OK\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n'],
    ['differing Content-Length', 'HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n'],
    ['Transfer-Encoding in HTTP/1.0', 'HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n'],
    ['chunked twice', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, chunked\r\n\r\n'],
    ['101 without Upgrade', 'HTTP/1.1 101 Switching Protocols\r\nConnection: upgrade\r\n\r\n'],
    ['status 099', 'HTTP/1.1 099 X\r\n\r\n'],
    ['status of 2 digits', 'HTTP/1.1 20 OK\r\n\r\n'],
    ['status of 4 digits', 'HTTP/1.1 2000 OK\r\n\r\n'],
    ['HTTP/2.0', 'HTTP/2.0 200 OK\r\n\r\n'],
    ['ICY', 'ICY 200 OK\r\n\r\n'],
    ['bare LF', 'HTTP/1.1 200 OK\nContent-Length: 0\r\n\r\n'],
    ['obs-fold', 'HTTP/1.1 200 OK\r\nX-A: a\r\n b\r\nContent-Length: 0\r\n\r\n'],
    ['NUL in the reason', 'HTTP/1.1 200 O\0K\r\n\r\n'],
    ['whitespace before the colon', 'HTTP/1.1 200 OK\r\nContent-Length : 0\r\n\r\n'],
  ])('rejected with 502: %s', (_name, s) => {
    responseRejected(s);
  });

  test('an oversized response head is 502', () => {
    const r = http.parseResponse(b('HTTP/1.1 200 OK\r\nX: ' + 'x'.repeat(100) + '\r\n\r\n'), 'GET', { maxHead: 64 });
    expect(r).toMatchObject({ status: 'error', error: { status: 502 } });
  });
});

describe('chunked decoder', () => {
  const decode = (s: string, o = {}) => http.decodeChunked(b(s), o);
  const failed = (s: string) => {
    const r = decode(s);
    expect(r.status, JSON.stringify(r)).toBe('error');
    expect(r.error?.status).toBe(400);
    // Never more data than the framing had promised before the error.
    return r.error?.reason ?? '';
  };

  test('one-byte chunks, fed one byte at a time', () => {
    const body = 'hello world';
    const s = [...body].map((c) => `1\r\n${c}\r\n`).join('') + '0\r\n\r\n';
    for (const pieceSize of [1, 2, 5, s.length]) {
      const r = decode(s, { pieceSize });
      expect(r.status).toBe('done');
      expect(r.data.toString()).toBe(body);
      expect(r.consumed).toBe(s.length);
    }
  });

  test('framing steps are Meta, data steps never cross a chunk', () => {
    const r = decode('3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n');
    expect(r.steps).toEqual(['meta', 'data', 'meta', 'data', 'meta', 'trailers', 'done']);
  });

  test('splicing: chunk data moved with skip_data', () => {
    const s = 'a\r\n0123456789\r\n4\r\nabcd\r\n0\r\n\r\n';
    const r = decode(s, { splice: true, pieceSize: 3 });
    expect(r.status).toBe('done');
    expect(r.data.toString()).toBe('0123456789abcd');
    expect(r.steps).toContain('spliced');
    expect(r.steps).not.toContain('data');
  });

  test('bytes after the body are left for the next message', () => {
    const body = '1\r\nx\r\n0\r\n\r\n';
    const r = decode(body + 'GET / HTTP/1.1\r\n');
    expect(r.status).toBe('done');
    expect(r.consumed).toBe(body.length);
  });

  test('extensions: tokens, quoted strings with escapes, several per line', () => {
    const r = decode('5;a=b;c;d="x \\" y";e=1\r\nhello\r\n0;last=yes\r\n\r\n', { pieceSize: 1 });
    expect(r.status).toBe('done');
    expect(r.data.toString()).toBe('hello');
  });

  test('upper- and lowercase hex, leading zeros up to 16 digits', () => {
    expect(decode('A\r\n0123456789\r\na\r\n0123456789\r\n0\r\n\r\n').data.length).toBe(20);
    expect(decode('000000000000000A\r\n0123456789\r\n0\r\n\r\n').status).toBe('done');
  });

  test('the largest chunk size is accepted and awaits its data', () => {
    const r = decode('FFFFFFFFFFFFFFFF\r\nabc');
    expect(r.status).toBe('incomplete');
    expect(r.data.toString()).toBe('abc');
  });

  test('trailers are exposed, forbidden ones flagged and dropped when forwarding', () => {
    const s = '1\r\nx\r\n0\r\nX-Checksum: abc\r\nContent-Length: 99\r\nhost: evil\r\nSet-Cookie: a=b\r\nX-Forwarded-For: 1.2.3.4\r\nServer-Timing: t;dur=1\r\n\r\n';
    for (const pieceSize of [1, s.length]) {
      const r = decode(s, { pieceSize });
      expect(r.status).toBe('done');
      expect(r.trailers).toEqual([
        ['X-Checksum', 'abc'], ['Content-Length', '99'], ['host', 'evil'], ['Set-Cookie', 'a=b'],
        ['X-Forwarded-For', '1.2.3.4'], ['Server-Timing', 't;dur=1'],
      ]);
      expect(r.forbiddenTrailers).toBe(4);
      expect(r.forwardedTrailers).toBe('X-Checksum: abc\r\nServer-Timing: t;dur=1\r\n\r\n');
    }
  });

  test.each([
    'Content-Length', 'Transfer-Encoding', 'Host', 'Trailer', 'Connection', 'Keep-Alive', 'TE', 'Upgrade',
    'Proxy-Authorization', 'Proxy-Connection', 'Authorization', 'Cookie', 'Set-Cookie', 'Content-Type',
    'Content-Encoding', 'Content-Range', 'Cache-Control', 'If-Match', 'Range', 'Location', 'Via', 'Forwarded',
    'X-Forwarded-Proto',
  ])('forbidden trailer: %s', (name) => {
    expect(decode(`0\r\n${name}: v\r\n\r\n`).forbiddenTrailers).toBe(1);
  });

  test.each<[string, string]>([
    ['size overflow (17 digits)', '10000000000000000\r\nx\r\n0\r\n\r\n'],
    ['17 digits even with leading zeros', '00000000000000001\r\nx\r\n0\r\n\r\n'],
    ['bad hex digit', 'g\r\nx\r\n0\r\n\r\n'],
    ['0x prefix', '0x1\r\nx\r\n0\r\n\r\n'],
    ['sign', '-1\r\nx\r\n0\r\n\r\n'],
    ['plus sign', '+1\r\nx\r\n0\r\n\r\n'],
    ['leading space', ' 1\r\nx\r\n0\r\n\r\n'],
    ['space after the size', '1 \r\nx\r\n0\r\n\r\n'],
    ['space before an extension (BWS)', '1 ;a\r\nx\r\n0\r\n\r\n'],
    ['space around = in an extension', '1;a = b\r\nx\r\n0\r\n\r\n'],
    ['empty extension', '1;\r\nx\r\n0\r\n\r\n'],
    ['extension without a name', '1;=b\r\nx\r\n0\r\n\r\n'],
    ['extension with an empty value', '1;a=\r\nx\r\n0\r\n\r\n'],
    ['unterminated quoted extension', '1;a="b\r\nx\r\n0\r\n\r\n'],
    ['CTL in a quoted extension', '1;a="\x01"\r\nx\r\n0\r\n\r\n'],
    ['empty size', '\r\nx\r\n0\r\n\r\n'],
    ['missing CRLF after data', '1\r\nxy0\r\n\r\n'],
    ['only CR after data', '1\r\nx\r0\r\n\r\n'],
    ['bare LF after data', '1\r\nx\n0\r\n\r\n'],
    ['bare LF after the size', '1\nx\r\n0\r\n\r\n'],
    ['bare LF in an extension', '1;a\nx\r\n0\r\n\r\n'],
    ['bare CR after the size', '1\rx\r\n0\r\n\r\n'],
    ['bare LF after the last chunk', '0\n\r\n'],
    ['bare LF ending the trailers', '0\r\n\n'],
    ['bare LF ending a trailer field', '0\r\nX-A: b\n\r\n'],
    ['obs-fold in trailers', '0\r\nX-A: b\r\n c\r\n\r\n'],
    ['whitespace before the colon in trailers', '0\r\nX-A : b\r\n\r\n'],
    ['NUL in a trailer value', '0\r\nX-A: \0\r\n\r\n'],
    ['chunk-size line too long', '1;' + 'a'.repeat(5000) + '\r\nx\r\n0\r\n\r\n'],
  ])('rejected: %s', (_name, s) => {
    failed(s);
  });

  test('an invalid byte is reported as soon as it arrives, without waiting for the line end', () => {
    const r = decode('5;a=b c');
    expect(r.status).toBe('error');
  });

  test('a trailer section larger than the limit is rejected', () => {
    const r = http.decodeChunked(b('0\r\nX-A: ' + 'x'.repeat(200)), { maxHead: 100 });
    expect(r).toMatchObject({ status: 'error', error: { status: 400 } });
  });

  test('too many trailer fields', () => {
    const r = http.decodeChunked(b('0\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n'), { maxHeaders: 2 });
    expect(r.status).toBe('error');
  });

  test('incomplete bodies stay incomplete', () => {
    for (const s of ['', '5', '5\r', '5\r\nhel', '5\r\nhello', '5\r\nhello\r', '5\r\nhello\r\n0\r\n', '5\r\nhello\r\n0\r\nX: 1\r\n']) {
      expect(decode(s).status, JSON.stringify(s)).toBe('incomplete');
    }
  });
});

describe('normalize_host', () => {
  test.each([
    ['example.com', 'example.com'],
    ['Example.COM', 'example.com'],
    ['example.com:8080', 'example.com'],
    ['example.com.', 'example.com'],
    ['Example.com.:80', 'example.com'],
    ['example.com:', 'example.com'],
    ['[::1]', '[::1]'],
    ['[::1]:8080', '[::1]'],
    ['[2001:DB8::A]:443', '[2001:db8::a]'],
    ['[::ffff:127.0.0.1]', '[::ffff:127.0.0.1]'],
    ['127.0.0.1:9000', '127.0.0.1'],
    ['xn--bcher-kva.example', 'xn--bcher-kva.example'],
    ['a%2Eb', 'a%2eb'],
    ['under_score', 'under_score'],
  ])('%s -> %s', (input, out) => {
    expect(http.normalizeHost(input)).toBe(out);
  });

  test.each([
    '', '.', 'a b', 'a\tb', 'a\0b', 'a\x7fb', 'u@a', 'a/b', 'a\\b', 'a?b', 'a#b', 'a:80:80', 'a:123456', 'a:8x', ':80',
    '[::1', '[]', '[::1]x', '[zz::1]', '[1.2.3.4]', 'caf\xe9.example', 'a%2', 'a%zz', 'a"b', 'a<b', 'a{b',
  ])('invalid: %j', (input) => {
    expect(http.normalizeHost(input)).toBe('');
  });
});
