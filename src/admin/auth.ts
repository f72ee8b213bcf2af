/**
 * Who may change things. Reading (GET) is open. A change (POST, PUT, DELETE) needs, with a
 * token configured, `Authorization: Bearer <token>` (401 and `WWW-Authenticate: Bearer`
 * otherwise); without one, it must come from a loopback client. Either way a browser cannot be
 * made to send a change from another site: a request whose Origin is not the admin server itself
 * is refused, and without a token the Host must be a loopback name too (a DNS rebinding page
 * would show its own).
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';

import { isLoopback } from '../config/address.js';
import { HttpError } from './http.js';

/** Throws HttpError 401 or 403 unless `req` may change things. */
export function authorizeChange(req: IncomingMessage, token: string | undefined): void {
  checkOrigin(req);
  if (token !== undefined) {
    if (!bearerMatches(req.headers.authorization, token)) {
      const why = req.headers.authorization === undefined ? 'this change needs Authorization: Bearer <admin token>' : 'wrong admin token';
      throw new HttpError(401, why, { headers: { 'www-authenticate': 'Bearer realm="epoxy admin"' } });
    }
    return;
  }
  const client = req.socket.remoteAddress ?? '';
  if (!isLoopback(client)) {
    throw new HttpError(403, `changes are only accepted from loopback clients when no admin token is set (client ${client})`);
  }
  const host = hostName(req.headers.host);
  if (host === undefined || !(host === 'localhost' || isLoopback(host))) {
    throw new HttpError(403, `changes without an admin token need a loopback Host (127.0.0.1, [::1] or localhost), got "${req.headers.host ?? ''}"`);
  }
}

/** Constant time in the token's content: both sides are hashed to equal lengths first. */
export function bearerMatches(header: string | undefined, token: string): boolean {
  const match = /^Bearer +(\S+) *$/i.exec(header ?? '');
  const given = match?.[1] ?? '';
  const a = createHash('sha256').update(given).digest();
  const b = createHash('sha256').update(token).digest();
  return timingSafeEqual(a, b) && match !== null;
}

/** A browser names the page that sent a request in Origin; it must be this server's own. */
function checkOrigin(req: IncomingMessage): void {
  const origin = req.headers.origin;
  if (origin === undefined) return;
  let host: string | undefined;
  try {
    host = new URL(origin).host;
  } catch {
    host = undefined;
  }
  if (host === undefined || host !== req.headers.host) {
    throw new HttpError(403, `cross-origin change refused (Origin ${origin} is not this admin server)`);
  }
}

/** The host part of a Host header (`127.0.0.1:9900`, `[::1]:9900`, `localhost`). */
function hostName(header: string | undefined): string | undefined {
  if (header === undefined) return undefined;
  if (header.startsWith('[')) {
    const end = header.indexOf(']');
    return end < 0 ? undefined : header.slice(1, end);
  }
  const colon = header.lastIndexOf(':');
  return (colon < 0 ? header : header.slice(0, colon)).toLowerCase();
}
