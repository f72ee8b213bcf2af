/**
 * A small route table: `METHOD /api/pools/:pool/servers/:address` patterns, one URL-decoded
 * path segment per parameter. A path that matches no pattern is 404; one that matches with
 * another method is 405 with the methods it takes in Allow.
 */
import type { IncomingMessage } from 'node:http';

import { HttpError, type Reply } from './http.js';

export type Method = 'GET' | 'POST' | 'PUT' | 'DELETE';

export interface RouteRequest {
  params: Record<string, string>;
  query: URLSearchParams;
  /** The JSON body of a POST or PUT; undefined when there is none. */
  body: Record<string, unknown> | undefined;
  raw: IncomingMessage;
}

export interface Route {
  method: Method;
  /** Segments separated by `/`; `:name` takes one segment. */
  path: string;
  handle(req: RouteRequest): Reply | Promise<Reply>;
}

export interface Match {
  route: Route;
  params: Record<string, string>;
}

export class Router {
  readonly #routes: Array<{ route: Route; segments: string[] }> = [];

  add(...routes: Route[]): this {
    for (const route of routes) this.#routes.push({ route, segments: route.path.split('/').slice(1) });
    return this;
  }

  /** The route for `method` and `pathname`; throws HttpError 400, 404 or 405. HEAD is GET. */
  match(method: string, pathname: string): Match {
    const segments = pathname.split('/').slice(1).map(decodeSegment);
    const wanted = method === 'HEAD' ? 'GET' : method;
    const allowed = new Set<string>();
    for (const { route, segments: pattern } of this.#routes) {
      const params = matchSegments(pattern, segments);
      if (!params) continue;
      if (route.method === wanted) return { route, params };
      allowed.add(route.method);
      if (route.method === 'GET') allowed.add('HEAD');
    }
    if (allowed.size === 0) throw new HttpError(404, `no such endpoint: ${pathname}`);
    const allow = [...allowed].join(', ');
    throw new HttpError(405, `${method} is not allowed on ${pathname} (allowed: ${allow})`, { headers: { allow } });
  }
}

function matchSegments(pattern: string[], segments: string[]): Record<string, string> | undefined {
  if (pattern.length !== segments.length) return undefined;
  const params: Record<string, string> = {};
  for (let i = 0; i < pattern.length; i++) {
    const p = pattern[i]!;
    const s = segments[i]!;
    if (p.startsWith(':')) {
      if (s === '') return undefined;
      params[p.slice(1)] = s;
    } else if (p !== s) {
      return undefined;
    }
  }
  return params;
}

function decodeSegment(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    throw new HttpError(400, `bad percent-encoding in the path segment "${segment}"`);
  }
}
