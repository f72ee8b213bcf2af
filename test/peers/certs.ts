/**
 * Certificates for the TLS peers: a self-signed CA and one leaf per name, made with the openssl
 * CLI (makeCerts), and RFC 6125 name matching (certNameMatches).
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import * as path from 'node:path';
import { promisify } from 'node:util';

import { ensureTools, peerEnv, privateTempDir } from './tools.js';

const execFileP = promisify(execFile);

export interface LeafCert {
  key: string;
  cert: string;
  keyFile: string;
  certFile: string;
  /** cert then key in one PEM file (haproxy's `crt`). */
  bundleFile: string;
}

export interface Certs {
  dir: string;
  ca: string;
  caFile: string;
  names: string[];
  certs: Record<string, LeafCert>;
}

const certCache = new Map<string, Promise<Certs>>();

async function openssl(args: string[], cwd: string): Promise<void> {
  try {
    await execFileP('openssl', args, { cwd, env: peerEnv() });
  } catch (e) {
    const err = e as { stderr?: unknown; message?: unknown };
    throw new Error(`openssl ${args.join(' ')} failed: ${String(err.stderr ?? err.message)}`);
  }
}

/**
 * A self-signed CA (EC P-256) and one leaf per name, its only SAN being DNS:<name> (wildcards
 * like '*.example.com' included), made with the openssl CLI in a private temp dir. Cached per
 * process by the list of names.
 */
export function makeCerts(names: string[]): Promise<Certs> {
  const cacheKey = names.join('\0');
  let p = certCache.get(cacheKey);
  if (!p) {
    p = generateCerts(names);
    certCache.set(cacheKey, p);
    p.catch(() => certCache.delete(cacheKey));
  }
  return p;
}

async function generateCerts(names: string[]): Promise<Certs> {
  if (names.length === 0) throw new Error('makeCerts: no names');
  ensureTools(['openssl=openssl']);
  const dir = privateTempDir('epoxy-certs-');
  writeFileSync(
    path.join(dir, 'ca.cnf'),
    [
      '[req]',
      'distinguished_name = dn',
      'prompt = no',
      'x509_extensions = v3_ca',
      '[dn]',
      'CN = epoxy test CA',
      '[v3_ca]',
      'basicConstraints = critical,CA:TRUE',
      'keyUsage = critical,keyCertSign,cRLSign',
      'subjectKeyIdentifier = hash',
      '',
    ].join('\n'),
  );
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  await openssl(['req', '-x509', '-new', '-config', 'ca.cnf', ...ec, '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '30', '-sha256'], dir);

  const certs: Record<string, LeafCert> = {};
  await Promise.all(
    names.map(async (name, i) => {
      if (!/^[A-Za-z0-9*.-]+$/.test(name)) throw new Error(`makeCerts: unsupported name ${JSON.stringify(name)}`);
      const base = `leaf-${i}`;
      writeFileSync(
        path.join(dir, `${base}.cnf`),
        [
          '[req]',
          'distinguished_name = dn',
          'prompt = no',
          '[dn]',
          `CN = ${name}`,
          '[v3]',
          'basicConstraints = critical,CA:FALSE',
          'keyUsage = critical,digitalSignature',
          'extendedKeyUsage = serverAuth,clientAuth',
          `subjectAltName = DNS:${name}`,
          'authorityKeyIdentifier = keyid',
          '',
        ].join('\n'),
      );
      await openssl(['req', '-new', '-config', `${base}.cnf`, ...ec, '-keyout', `${base}.key`, '-out', `${base}.csr`], dir);
      const serial = `0x${randomBytes(12).toString('hex')}`;
      await openssl(
        ['x509', '-req', '-in', `${base}.csr`, '-CA', 'ca.pem', '-CAkey', 'ca.key', '-set_serial', serial, '-days', '30', '-sha256',
          '-extfile', `${base}.cnf`, '-extensions', 'v3', '-out', `${base}.pem`],
        dir,
      );
      const key = await readFile(path.join(dir, `${base}.key`), 'utf8');
      const cert = await readFile(path.join(dir, `${base}.pem`), 'utf8');
      const bundleFile = path.join(dir, `${base}.bundle.pem`);
      writeFileSync(bundleFile, cert + key);
      certs[name] = { key, cert, keyFile: path.join(dir, `${base}.key`), certFile: path.join(dir, `${base}.pem`), bundleFile };
    }),
  );
  const ca = await readFile(path.join(dir, 'ca.pem'), 'utf8');
  return { dir, ca, caFile: path.join(dir, 'ca.pem'), names: [...names], certs };
}

/** Does a certificate name (possibly '*.x.y') cover a host name? One label per wildcard, as in RFC 6125. */
export function certNameMatches(certName: string, host: string): boolean {
  const c = certName.toLowerCase();
  const h = host.toLowerCase();
  if (!c.startsWith('*.')) return c === h;
  const dot = h.indexOf('.');
  return dot > 0 && h.slice(dot + 1) === c.slice(2);
}
