import { describe, expect, it } from 'vitest';
import { isLoopback, normalizeAddress, parseAddress } from '../src/config/address.js';

describe('parseAddress / normalizeAddress', () => {
  it('parses the three forms', () => {
    expect(parseAddress('10.0.0.1:80')).toEqual({ host: '10.0.0.1', port: 80 });
    expect(parseAddress('[::1]:443')).toEqual({ host: '::1', port: 443 });
    expect(parseAddress('Example.COM:65535')).toEqual({ host: 'example.com', port: 65535 });
  });

  it('rejects junk with a message naming the input', () => {
    for (const text of ['', ' 1.2.3.4:80', '1.2.3.4:80 ', '1.2.3.4:', ':80', '1.2.3:80', '1.2.3.4:+80', '1.2.3.4:65536', '[::1]80', '[::1', '[fe80::1%eth0]:80']) {
      const r = parseAddress(text);
      expect('error' in r, text).toBe(true);
      if ('error' in r) expect(r.error.startsWith(`"${text}" is not a valid address: `)).toBe(true);
    }
  });

  it('normalises', () => {
    expect(normalizeAddress('127.0.0.1', 80)).toBe('127.0.0.1:80');
    expect(normalizeAddress('0:0::1', 80)).toBe('[::1]:80');
    expect(normalizeAddress('2001:DB8::1', 8080)).toBe('[2001:db8::1]:8080');
  });

  it('tells loopback addresses', () => {
    for (const host of ['127.0.0.1', '127.255.0.9', '::1', '[::1]', '0:0::1', '::ffff:127.0.0.1', '::ffff:7f00:1']) expect(isLoopback(host), host).toBe(true);
    for (const host of ['0.0.0.0', '10.0.0.1', '128.0.0.1', '::', '::2', '::ffff:10.0.0.1', 'localhost', '']) expect(isLoopback(host), host).toBe(false);
  });
});
