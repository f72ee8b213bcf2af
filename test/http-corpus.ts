/**
 * The request corpus of test/http-differential.test.ts: deterministic, a few hundred valid and
 * invalid HTTP/1.x requests, each a complete message with nothing after it, named
 * `family/variant` so an allow-list can cite them. Strings are latin1 (one char, one byte).
 */
export interface CorpusCase {
  name: string;
  raw: string;
}

export function buildCorpus(): CorpusCase[] {
  const cases: CorpusCase[] = [];
  const names = new Set<string>();
  const add = (name: string, raw: string) => {
    if (names.has(name)) throw new Error(`corpus: duplicate case name ${name}`);
    names.add(name);
    cases.push({ name, raw });
  };
  const H = 'Host: a.example\r\n';
  /** A request with `fields` (each ending in CRLF) and `body` after the head. */
  const msg = (line: string, fields: string, body = '') => `${line}\r\n${fields}\r\n${body}`;
  const get = (fields: string) => msg('GET / HTTP/1.1', H + fields);
  const post = (fields: string, body = '') => msg('POST /p HTTP/1.1', H + fields, body);
  const chunked = (body: string) => post('Transfer-Encoding: chunked\r\n', body);

  // Methods and targets.
  for (const m of ['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'OPTIONS', 'PATCH', 'TRACE', 'PROPFIND', 'MKCOL', 'PURGE', 'LINK', 'SEARCH']) {
    add(`method/${m}`, msg(`${m} / HTTP/1.1`, H));
  }
  for (const m of ['FOO', 'get', 'Get', 'GET2', 'M-SEARCH']) add(`method-ext/${m}`, msg(`${m} / HTTP/1.1`, H));
  add('method/non-token', msg('GE(T / HTTP/1.1', H));
  add('method/NUL', msg('GE\0T / HTTP/1.1', H));
  const targets: Array<[string, string]> = [
    ['root', '/'],
    ['query', '/a/b?c=d&e=f'],
    ['pct', '/%7Euser/file%20name.txt'],
    ['params', '/p;v=1?q=a+b'],
    ['sub-delims', "/!$&'()*+,;=:@/x"],
    ['unsafe-ascii', '/a|b{c}"d<e>^`\\'],
    ['double-slash', '//x//y'],
    ['dot-segments', '/a/../b/./c'],
    ['long', '/' + 'x'.repeat(4000)],
    ['query-only-slash', '/?'],
  ];
  for (const [n, t] of targets) add(`target/${n}`, msg(`GET ${t} HTTP/1.1`, H));
  for (const [n, t] of [
    ['fragment', '/a#b'], ['obs-text', '/caf\xe9'], ['tab', '/a\tb'], ['DEL', '/a\x7f'], ['NUL', '/a\0'],
    ['CTL', '/a\x01'], ['empty', ''],
  ] as const) {
    add(`target-bad/${n}`, msg(`GET ${t} HTTP/1.1`, H));
  }

  // Request-line shape and versions.
  add('line/double-space-after-method', msg('GET  / HTTP/1.1', H));
  add('line/double-space-before-version', msg('GET /  HTTP/1.1', H));
  add('line/tab-separator', msg('GET\t/ HTTP/1.1', H));
  add('line/trailing-space', msg('GET / HTTP/1.1 ', H));
  add('line/leading-space', msg(' GET / HTTP/1.1', H));
  add('line/no-version', msg('GET /', H));
  add('version/1.0', msg('GET / HTTP/1.0', H));
  add('version/1.0-no-host', msg('GET / HTTP/1.0', ''));
  add('version/1.0-keep-alive', msg('GET / HTTP/1.0', 'Connection: keep-alive\r\n'));
  add('version/1.0-body', msg('POST / HTTP/1.0', 'Content-Length: 3\r\n', 'abc'));
  add('version/1.2', msg('GET / HTTP/1.2', H));
  add('version/2.0', msg('GET / HTTP/2.0', H));
  add('version/0.9', msg('GET / HTTP/0.9', H));
  add('version/1.10', msg('GET / HTTP/1.10', H));
  add('version/lowercase', msg('GET / http/1.1', H));
  add('version/1', msg('GET / HTTP/1', H));

  // Leading empty lines.
  add('leading/crlf', '\r\n' + get(''));
  add('leading/crlf-x3', '\r\n\r\n\r\n' + get(''));
  add('leading/bare-lf', '\n' + get(''));
  add('leading/bare-cr', '\r' + get(''));

  // Host.
  for (const [n, v] of [
    ['plain', 'a.example'], ['port', 'a.example:8080'], ['ipv4', '127.0.0.1:80'], ['ipv6', '[::1]:8080'],
    ['idn', 'xn--bcher-kva.example'], ['underscore', 'a_b.example'], ['trailing-dot', 'a.example.'],
    ['empty', ''], ['uppercase', 'A.EXAMPLE'],
  ] as const) {
    add(`host/${n}`, msg('GET / HTTP/1.1', `Host: ${v}\r\n`));
  }
  for (const [n, v] of [
    ['space', 'a b'], ['userinfo', 'u@a.example'], ['slash', 'a/b'], ['bad-port', 'a:8x'], ['backslash', 'a\\b'],
    ['obs-text', 'caf\xe9.example'], ['query', 'a?b'],
  ] as const) {
    add(`host-bad/${n}`, msg('GET / HTTP/1.1', `Host: ${v}\r\n`));
  }
  for (const n of ['host', 'HOST', 'hOsT']) add(`host-case/${n}`, msg('GET / HTTP/1.1', `${n}: a.example\r\n`));
  add('host/missing-1.1', msg('GET / HTTP/1.1', 'X-A: 1\r\n'));
  add('host/duplicate-same', msg('GET / HTTP/1.1', H + H));
  add('host/duplicate-different', msg('GET / HTTP/1.1', H + 'Host: b.example\r\n'));
  add('host/duplicate-1.0', msg('GET / HTTP/1.0', H + H));

  // Absolute-form, authority-form, asterisk-form.
  add('absolute/match', msg('GET http://a.example/x?y HTTP/1.1', H));
  add('absolute/https-port', msg('GET https://a.example:8443/x HTTP/1.1', 'Host: a.example:8443\r\n'));
  add('absolute/case', msg('GET HTTP://A.EXAMPLE/x HTTP/1.1', H));
  add('absolute/no-path', msg('GET http://a.example HTTP/1.1', H));
  add('absolute/query-no-path', msg('GET http://a.example?q=1 HTTP/1.1', H));
  add('absolute/host-mismatch', msg('GET http://b.example/x HTTP/1.1', H));
  add('absolute/no-host', msg('GET http://a.example/x HTTP/1.1', ''));
  add('absolute/ftp', msg('GET ftp://a.example/x HTTP/1.1', H));
  add('absolute/userinfo', msg('GET http://u:p@a.example/x HTTP/1.1', H));
  add('absolute/empty-authority', msg('GET http:///x HTTP/1.1', H));
  add('connect/ok', msg('CONNECT a.example:443 HTTP/1.1', 'Host: a.example:443\r\n'));
  add('connect/ipv6', msg('CONNECT [::1]:443 HTTP/1.1', 'Host: [::1]:443\r\n'));
  add('connect/no-port', msg('CONNECT a.example HTTP/1.1', H));
  add('connect/origin-form', msg('CONNECT / HTTP/1.1', H));
  add('connect/content-length', msg('CONNECT a.example:443 HTTP/1.1', 'Host: a.example:443\r\nContent-Length: 0\r\n'));
  add('authority/with-get', msg('GET a.example:80 HTTP/1.1', H));
  add('asterisk/options', msg('OPTIONS * HTTP/1.1', H));
  add('asterisk/get', msg('GET * HTTP/1.1', H));

  // Field names and values.
  add('field/lowercase', get('x-custom: v\r\n'));
  add('field/uppercase', get('X-CUSTOM: V\r\n'));
  add('field/no-space', get('X-A:v\r\n'));
  add('field/ows', get('X-A:   v   \r\n'));
  add('field/tabs', get('X-A:\tv\t\r\n'));
  add('field/inner-space', get('X-A: a  b\tc\r\n'));
  add('field/empty-value', get('X-A:\r\n'));
  add('field/empty-value-ows', get('X-A:   \r\n'));
  add('field/obs-text', get('X-A: caf\xe9 \xff\r\n'));
  add('field/tchars', get("!#$%&'*+-.^_`|~09azAZ: v\r\n"));
  add('field/quotes', get('X-A: "q\\"s", (c)\r\n'));
  add('field/colon-in-value', get('X-A: b: c\r\n'));
  add('field/long-value', get('X-A: ' + 'v'.repeat(8000) + '\r\n'));
  add('field/50-fields', get(Array.from({ length: 50 }, (_, i) => `X-${i}: ${i}\r\n`).join('')));
  add('field/duplicates', get('X-A: 1\r\nX-A: 2\r\nx-a: 3\r\n'));
  add('field/cookie', get('Cookie: a=b; c=d\r\nCookie: e=f\r\n'));
  add('field-bad/obs-text-name', get('X-\xe9: v\r\n'));
  add('field-bad/non-token-name', get('X(A): v\r\n'));
  add('field-bad/empty-name', get(': v\r\n'));
  add('field-bad/no-colon', get('X-A\r\n'));
  add('field-bad/space-in-name', get('X A: v\r\n'));
  for (const [n, c] of [
    ['NUL', '\0'], ['SOH', '\x01'], ['BS', '\x08'], ['VT', '\x0b'], ['FF', '\x0c'], ['ESC', '\x1b'], ['US', '\x1f'], ['DEL', '\x7f'],
  ] as const) {
    add(`ctl/value-${n}`, get(`X-A: a${c}b\r\n`));
    add(`ctl/name-${n}`, get(`X-${c}A: v\r\n`));
  }
  add('ctl/value-NUL-end', get('X-A: a\0\r\n'));

  // Line endings.
  add('bare-cr/value', get('X-A: a\rb\r\n'));
  add('bare-cr/value-end', get('X-A: a\r\r\n'));
  add('bare-cr/request-line', msg('GET /\r HTTP/1.1', H));
  add('bare-cr/name', get('X\r-A: v\r\n'));
  add('bare-lf/request-line', 'GET / HTTP/1.1\n' + H + '\r\n');
  add('bare-lf/field', 'GET / HTTP/1.1\r\nHost: a.example\nX-A: v\r\n\r\n');
  add('bare-lf/final', 'GET / HTTP/1.1\r\nHost: a.example\r\n\n');
  add('bare-lf/all', 'GET / HTTP/1.1\nHost: a.example\n\n');
  add('bare-lf/value-inner', get('X-A: a\nb\r\n'));

  // obs-fold and whitespace before the colon.
  add('obs-fold/space', get('X-A: a\r\n b\r\n'));
  add('obs-fold/tab', get('X-A: a\r\n\tb\r\n'));
  add('obs-fold/first-line', 'GET / HTTP/1.1\r\n X-A: a\r\n' + H + '\r\n');
  add('obs-fold/content-length', post('Content-Length:\r\n 3\r\n', 'abc'));
  add('obs-fold/transfer-encoding', post('Transfer-Encoding:\r\n chunked\r\n', '0\r\n\r\n'));
  add('ws-colon/space', get('X-A : v\r\n'));
  add('ws-colon/tab', get('X-A\t: v\r\n'));
  add('ws-colon/host', 'GET / HTTP/1.1\r\nHost : a.example\r\n\r\n');
  add('ws-colon/content-length', post('Content-Length : 3\r\n', 'abc'));
  add('ws-colon/transfer-encoding', post('Transfer-Encoding : chunked\r\n', '0\r\n\r\n'));

  // Content-Length.
  add('cl/zero', post('Content-Length: 0\r\n'));
  add('cl/body', post('Content-Length: 5\r\n', 'hello'));
  add('cl/leading-zeros', post('Content-Length: 005\r\n', 'hello'));
  add('cl/case', post('content-LENGTH: 5\r\n', 'hello'));
  add('cl/ows', post('Content-Length:   5  \r\n', 'hello'));
  add('cl/binary-body', post('Content-Length: 6\r\n', '\0\r\n\xff\x01\n'));
  add('cl/get-with-body', msg('GET / HTTP/1.1', H + 'Content-Length: 3\r\n', 'abc'));
  add('cl/duplicate-same', post('Content-Length: 5\r\nContent-Length: 5\r\n', 'hello'));
  add('cl/list-same', post('Content-Length: 5, 5\r\n', 'hello'));
  add('cl/duplicate-different', post('Content-Length: 5\r\nContent-Length: 6\r\n', 'hello!'));
  add('cl/list-different', post('Content-Length: 5, 6\r\n', 'hello!'));
  add('cl/plus', post('Content-Length: +5\r\n', 'hello'));
  add('cl/minus', post('Content-Length: -5\r\n', 'hello'));
  add('cl/hex', post('Content-Length: 0x5\r\n', 'hello'));
  add('cl/inner-space', post('Content-Length: 5 5\r\n', 'hello'));
  add('cl/empty', post('Content-Length: \r\n', 'hello'));
  add('cl/letters', post('Content-Length: abc\r\n', 'hello'));
  add('cl/overflow', post('Content-Length: 99999999999999999999\r\n', 'hello'));
  add('cl/decimal-point', post('Content-Length: 5.0\r\n', 'hello'));

  // Transfer-Encoding.
  add('te/chunked', chunked('5\r\nhello\r\n0\r\n\r\n'));
  add('te/uppercase', post('Transfer-Encoding: CHUNKED\r\n', '5\r\nhello\r\n0\r\n\r\n'));
  add('te/ows', post('Transfer-Encoding:   chunked  \r\n', '5\r\nhello\r\n0\r\n\r\n'));
  add('te/name-case', post('transfer-encoding: chunked\r\n', '5\r\nhello\r\n0\r\n\r\n'));
  add('te/gzip-chunked', post('Transfer-Encoding: gzip, chunked\r\n', '0\r\n\r\n'));
  add('te/gzip-then-chunked-fields', post('Transfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n', '0\r\n\r\n'));
  add('te/chunked-gzip', post('Transfer-Encoding: chunked, gzip\r\n', '0\r\n\r\n'));
  add('te/gzip', post('Transfer-Encoding: gzip\r\n', '0\r\n\r\n'));
  add('te/identity', post('Transfer-Encoding: identity\r\n', '0\r\n\r\n'));
  add('te/chunked-twice', post('Transfer-Encoding: chunked, chunked\r\n', '0\r\n\r\n'));
  add('te/chunked-two-fields', post('Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n', '0\r\n\r\n'));
  add('te/chunked-params', post('Transfer-Encoding: chunked;q=1\r\n', '0\r\n\r\n'));
  add('te/leading-comma', post('Transfer-Encoding: ,chunked\r\n', '0\r\n\r\n'));
  add('te/trailing-comma', post('Transfer-Encoding: chunked,\r\n', '0\r\n\r\n'));
  add('te/xchunked', post('Transfer-Encoding: xchunked\r\n', '0\r\n\r\n'));
  add('te/chunked-x', post('Transfer-Encoding: chunkedx\r\n', '0\r\n\r\n'));
  add('te/empty', post('Transfer-Encoding:\r\n', '0\r\n\r\n'));
  add('te/http10', msg('POST / HTTP/1.0', H + 'Transfer-Encoding: chunked\r\n', '5\r\nhello\r\n0\r\n\r\n'));
  add('te-cl/te-first', post('Transfer-Encoding: chunked\r\nContent-Length: 5\r\n', '0\r\n\r\n'));
  add('te-cl/cl-first', post('Content-Length: 5\r\nTransfer-Encoding: chunked\r\n', '0\r\n\r\n'));
  add('te-cl/cl-zero', post('Content-Length: 0\r\nTransfer-Encoding: chunked\r\n', '0\r\n\r\n'));
  add('te-cl/gzip', post('Content-Length: 5\r\nTransfer-Encoding: gzip\r\n', 'hello'));

  // Chunked bodies.
  add('chunked/empty', chunked('0\r\n\r\n'));
  add('chunked/two', chunked('5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n'));
  add('chunked/one-byte', chunked([...'abcdefgh'].map((c) => `1\r\n${c}\r\n`).join('') + '0\r\n\r\n'));
  add('chunked/hex-lower', chunked('a\r\n0123456789\r\n0\r\n\r\n'));
  add('chunked/hex-upper', chunked('A\r\n0123456789\r\n0\r\n\r\n'));
  add('chunked/leading-zeros-16', chunked('0000000000000005\r\nhello\r\n0\r\n\r\n'));
  add('chunked/binary-data', chunked('6\r\n\0\r\n\xff0\n\r\n0\r\n\r\n'));
  add('chunked/large', chunked('2000\r\n' + 'z'.repeat(0x2000) + '\r\n0\r\n\r\n'));
  add('chunked/ext-token', chunked('5;a=b\r\nhello\r\n0\r\n\r\n'));
  add('chunked/ext-name-only', chunked('5;a\r\nhello\r\n0\r\n\r\n'));
  add('chunked/ext-quoted', chunked('5;a="x y"\r\nhello\r\n0\r\n\r\n'));
  add('chunked/ext-quoted-escape', chunked('5;a="x\\"y"\r\nhello\r\n0\r\n\r\n'));
  add('chunked/ext-several', chunked('5;a=b;c;d="e"\r\nhello\r\n0\r\n\r\n'));
  add('chunked/ext-last-chunk', chunked('5\r\nhello\r\n0;end=1\r\n\r\n'));
  add('chunked/trailer', chunked('5\r\nhello\r\n0\r\nX-Checksum: abc\r\n\r\n'));
  add('chunked/trailers-two', chunked('5\r\nhello\r\n0\r\nX-A: 1\r\nx-b:2\r\n\r\n'));
  add('chunked/trailer-content-length', chunked('5\r\nhello\r\n0\r\nContent-Length: 5\r\n\r\n'));
  add('chunked/trailer-transfer-encoding', chunked('5\r\nhello\r\n0\r\nTransfer-Encoding: chunked\r\n\r\n'));
  add('chunked/trailer-host', chunked('5\r\nhello\r\n0\r\nHost: evil.example\r\n\r\n'));
  add('chunked-bad/ext-bws-before', chunked('5 ;a=b\r\nhello\r\n0\r\n\r\n'));
  add('chunked-bad/ext-bws-around-eq', chunked('5;a = b\r\nhello\r\n0\r\n\r\n'));
  add('chunked-bad/ext-bws-after-semicolon', chunked('5; a=b\r\nhello\r\n0\r\n\r\n'));
  add('chunked-bad/ext-empty', chunked('5;\r\nhello\r\n0\r\n\r\n'));
  add('chunked-bad/ext-empty-value', chunked('5;a=\r\nhello\r\n0\r\n\r\n'));
  add('chunked-bad/ext-unterminated-quote', chunked('5;a="b\r\nhello\r\n0\r\n\r\n'));
  add('chunked-bad/ext-bare-lf', chunked('5;a\nhello\r\n0\r\n\r\n'));
  add('chunked-bad/ext-ctl', chunked('5;a=\x01\r\nhello\r\n0\r\n\r\n'));
  add('chunked-bad/size-trailing-space', chunked('5 \r\nhello\r\n0\r\n\r\n'));
  add('chunked-bad/size-leading-space', chunked(' 5\r\nhello\r\n0\r\n\r\n'));
  add('chunked-bad/size-leading-zeros-17', chunked('00000000000000005\r\nhello\r\n0\r\n\r\n'));
  add('chunked-bad/size-overflow', chunked('10000000000000000\r\nhello\r\n0\r\n\r\n'));
  add('chunked-bad/size-g', chunked('g\r\nhello\r\n0\r\n\r\n'));
  add('chunked-bad/size-0x', chunked('0x5\r\nhello\r\n0\r\n\r\n'));
  add('chunked-bad/size-minus', chunked('-5\r\nhello\r\n0\r\n\r\n'));
  add('chunked-bad/size-plus', chunked('+5\r\nhello\r\n0\r\n\r\n'));
  add('chunked-bad/size-empty', chunked('\r\nhello\r\n0\r\n\r\n'));
  add('chunked-bad/size-bare-lf', chunked('5\nhello\r\n0\r\n\r\n'));
  add('chunked-bad/size-bare-cr', chunked('5\rhello\r\n0\r\n\r\n'));
  add('chunked-bad/data-too-long', chunked('5\r\nhello!\r\n0\r\n\r\n'));
  add('chunked-bad/data-no-crlf', chunked('5\r\nhello0\r\n\r\n'));
  add('chunked-bad/data-bare-lf', chunked('5\r\nhello\n0\r\n\r\n'));
  add('chunked-bad/data-bare-cr', chunked('5\r\nhello\r0\r\n\r\n'));
  add('chunked-bad/last-bare-lf', chunked('5\r\nhello\r\n0\n\r\n'));
  add('chunked-bad/final-bare-lf', chunked('5\r\nhello\r\n0\r\n\n'));
  add('chunked-bad/trailer-obs-fold', chunked('5\r\nhello\r\n0\r\nX-A: 1\r\n 2\r\n\r\n'));
  add('chunked-bad/trailer-ws-colon', chunked('5\r\nhello\r\n0\r\nX-A : 1\r\n\r\n'));
  add('chunked-bad/trailer-bare-lf', chunked('5\r\nhello\r\n0\r\nX-A: 1\n\r\n'));
  add('chunked-bad/trailer-NUL', chunked('5\r\nhello\r\n0\r\nX-A: \0\r\n\r\n'));
  add('chunked-bad/trailer-no-colon', chunked('5\r\nhello\r\n0\r\nX-A\r\n\r\n'));

  // Connection handling.
  add('conn/close', get('Connection: close\r\n'));
  add('conn/keep-alive', get('Connection: keep-alive\r\n'));
  add('conn/list', get('Connection: foo, CLOSE\r\n'));
  add('conn/upgrade', get('Connection: Upgrade\r\nUpgrade: websocket\r\n'));
  add('conn/upgrade-no-connection', get('Upgrade: websocket\r\n'));
  add('expect/100-continue', post('Expect: 100-continue\r\nContent-Length: 5\r\n', 'hello'));
  add('expect/other', post('Expect: something\r\nContent-Length: 5\r\n', 'hello'));

  // Every control byte in a value, every separator in a name.
  for (let c = 0; c < 0x20; c++) {
    if (c === 0x09) continue;
    const hex = c.toString(16).padStart(2, '0');
    if (!names.has(`ctl/value-${hex}`)) add(`ctl/value-${hex}`, get(`X-B: a${String.fromCharCode(c)}b\r\n`));
  }
  for (const c of '()<>@,;\\"/[]?={}') add(`field-sep/name-${c}`, get(`X${c}B: v\r\n`));

  // Bodies of several sizes and chunkings (a deterministic LCG splits the chunked ones).
  for (const n of [1, 2, 10, 100, 1000, 10000]) {
    add(`body-cl/${n}`, post(`Content-Length: ${n}\r\n`, 'b'.repeat(n)));
  }
  let seed = 12345;
  const next = () => (seed = (seed * 1103515245 + 12345) % 2147483648);
  for (let k = 0; k < 12; k++) {
    const body = Array.from({ length: 300 + k * 37 }, (_, i) => String.fromCharCode(32 + ((i * 7 + k) % 95))).join('');
    let framed = '';
    for (let i = 0; i < body.length; ) {
      const size = Math.min(body.length - i, 1 + (next() % 120));
      const hex = k % 2 ? size.toString(16).toUpperCase() : size.toString(16);
      framed += `${hex}${k % 3 === 0 ? ';k=' + k : ''}\r\n${body.slice(i, i + size)}\r\n`;
      i += size;
    }
    add(`body-chunked/split-${k}`, chunked(framed + '0\r\n' + (k % 4 === 0 ? `X-Part: ${k}\r\n` : '') + '\r\n'));
  }

  // Realistic clients.
  add('realistic/curl', msg('GET /hello.txt HTTP/1.1', 'Host: www.example.com\r\nUser-Agent: curl/7.88.1\r\nAccept: */*\r\n'));
  add(
    'realistic/browser',
    msg(
      'GET /search?q=epoxy+proxy&lang=en HTTP/1.1',
      'Host: www.example.com\r\nConnection: keep-alive\r\nsec-ch-ua: "Chromium";v="124", "Not-A.Brand";v="99"\r\n' +
        'Upgrade-Insecure-Requests: 1\r\nUser-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0 Safari/537.36\r\n' +
        'Accept: text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8\r\nAccept-Encoding: gzip, deflate, br\r\n' +
        'Accept-Language: en-US,en;q=0.9\r\nCookie: session=abc123; theme=dark\r\n',
    ),
  );
  add('realistic/ab', msg('GET / HTTP/1.0', 'Connection: Keep-Alive\r\nHost: 127.0.0.1:8080\r\nUser-Agent: ApacheBench/2.3\r\nAccept: */*\r\n'));
  add('realistic/wrk', msg('GET / HTTP/1.1', 'Host: 127.0.0.1:8080\r\n'));
  add(
    'realistic/websocket',
    msg(
      'GET /chat HTTP/1.1',
      'Host: server.example.com\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n' +
        'Origin: http://example.com\r\nSec-WebSocket-Protocol: chat, superchat\r\nSec-WebSocket-Version: 13\r\n',
    ),
  );
  add('realistic/json-post', post('Content-Type: application/json\r\nContent-Length: 13\r\n', '{"a":[1,2,3]}'));
  add('realistic/form-post', post('Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 11\r\n', 'a=1&b=%20x+'));
  add('realistic/cors-preflight', msg('OPTIONS /api HTTP/1.1', H + 'Origin: https://b.example\r\nAccess-Control-Request-Method: PUT\r\n'));
  add('realistic/head', msg('HEAD /big.iso HTTP/1.1', H + 'Range: bytes=0-99\r\n'));
  add('realistic/delete-no-body', msg('DELETE /item/1 HTTP/1.1', H + 'Authorization: Bearer x.y.z\r\n'));
  for (const [n, name] of [['lower', 'content-type'], ['upper', 'CONTENT-TYPE'], ['mixed', 'cOnTeNt-TyPe']] as const) {
    for (const h of ['User-Agent', 'Accept-Encoding']) {
      const cased = n === 'lower' ? h.toLowerCase() : n === 'upper' ? h.toUpperCase() : h;
      add(`casing/${n}-${h}`, get(`${cased}: v\r\n`));
    }
    add(`casing/${n}-content-type`, post(`${name}: text/plain\r\nContent-Length: 2\r\n`, 'hi'));
  }

  // Limits.
  add('limit/101-fields', get(Array.from({ length: 100 }, (_, i) => `X-${i}: ${i}\r\n`).join('')));
  add('limit/head-17k', get('X-A: ' + 'v'.repeat(17000) + '\r\n'));
  return cases;
}
