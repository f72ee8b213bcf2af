/**
 * The Redis URL: what the rest of the module may know about it (db number, a printable form)
 * without ever holding the password in a log line or an error message.
 */

const SCHEMES = new Set(['redis:', 'rediss:']);
const MASK = '***';

export interface RedisUrlInfo {
  /** The logical database, from the `/db` path (0 when absent): keyspace channels name it. */
  db: number;
  tls: boolean;
  /** The URL with the password replaced by ***: safe to log. */
  redacted: string;
}

/** Parses and checks a redis:// or rediss:// URL; the error names the redacted URL, never the password. */
export function parseRedisUrl(url: string): RedisUrlInfo {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new Error(`redis url ${redact(url)} is not a valid URL`);
  }
  if (!SCHEMES.has(parsed.protocol)) {
    throw new Error(`redis url ${redact(url)}: the scheme must be redis:// or rediss://`);
  }
  const dbText = parsed.pathname.replace(/^\//, '');
  if (dbText !== '' && !/^[0-9]{1,5}$/.test(dbText)) {
    throw new Error(`redis url ${redact(url)}: the path must be a database number (/0)`);
  }
  return { db: dbText === '' ? 0 : Number(dbText), tls: parsed.protocol === 'rediss:', redacted: redact(url) };
}

/**
 * The URL with its password (if any) replaced by ***. Works on text that is not a valid URL
 * too, because a typo in the URL must not leak the password through the error that reports it.
 */
export function redact(url: string): string {
  try {
    const parsed = new URL(url);
    // The client also takes `?password=` as an option (ioredis maps query items to options).
    const inQuery = parsed.searchParams.has('password');
    if (parsed.password === '' && !inQuery) return url;
    if (parsed.password !== '') parsed.password = MASK;
    if (inQuery) parsed.searchParams.set('password', MASK);
    return parsed.toString().split(encodeURIComponent(MASK)).join(MASK);
  } catch {
    // scheme://user:password@host… → the part between the first ':' after '//' and the last '@'.
    return url.replace(/^([a-z][a-z0-9+.-]*:\/\/[^:/@]*:)[^/]*@/i, `$1${MASK}@`);
  }
}

/**
 * Removes the URL's password from any text (an error message from the client, a stack): both
 * the raw and the percent-decoded forms. Used on every message that reaches a log or a state.
 */
export function scrubSecret(text: string, url: string): string {
  let out = text.split(url).join(redact(url));
  for (const secret of secretsOf(url)) out = out.split(secret).join(MASK);
  return out;
}

function secretsOf(url: string): string[] {
  const raw: string[] = [];
  try {
    const parsed = new URL(url);
    raw.push(parsed.password, parsed.searchParams.get('password') ?? '');
  } catch {
    raw.push(/^[a-z][a-z0-9+.-]*:\/\/[^:/@]*:([^/]*)@/i.exec(url)?.[1] ?? '');
  }
  const forms = new Set<string>();
  for (const r of raw) {
    forms.add(r);
    try {
      forms.add(decodeURIComponent(r));
    } catch {
      // A malformed %-escape: the raw form is all there is.
    }
  }
  forms.delete('');
  return [...forms];
}

/** An unknown thrown value as a message with the password removed. */
export function errorText(err: unknown, url: string): string {
  const text = err instanceof Error ? err.message : String(err);
  return scrubSecret(text, url);
}
