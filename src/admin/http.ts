/** The admin server's HTTP plumbing: replies, errors as `{ error }`, and bounded JSON bodies. */
import type { IncomingMessage, ServerResponse } from 'node:http';

/** What a route answers: JSON, or text of a given type (metrics, the dashboard). */
export type Reply =
  | { status: number; json: unknown; headers?: Record<string, string> }
  | { status: number; text: string; type: string; headers?: Record<string, string> };

/** A request that cannot be served; the client gets `{ error: message, ...extra }` with `status`. */
export class HttpError extends Error {
  readonly status: number;
  readonly headers: Record<string, string>;
  readonly extra: Record<string, unknown>;

  constructor(status: number, message: string, options: { headers?: Record<string, string>; extra?: Record<string, unknown> } = {}) {
    super(message);
    this.name = 'HttpError';
    this.status = status;
    this.headers = options.headers ?? {};
    this.extra = options.extra ?? {};
  }
}

export const MAX_BODY_BYTES = 64 * 1024;

export function json(status: number, body: unknown): Reply {
  return { status, json: body };
}

export function errorReply(err: HttpError): Reply {
  return { status: err.status, json: { error: err.message, ...err.extra }, headers: err.headers };
}

export function send(res: ServerResponse, reply: Reply): void {
  const body = 'json' in reply ? `${JSON.stringify(reply.json)}\n` : reply.text;
  const type = 'json' in reply ? 'application/json; charset=utf-8' : reply.type;
  res.writeHead(reply.status, {
    'content-type': type,
    'content-length': Buffer.byteLength(body),
    'cache-control': 'no-store',
    'x-content-type-options': 'nosniff',
    ...reply.headers,
  });
  res.end(body);
}

/**
 * The request's JSON body: undefined when there is none, else a plain object. Over 64 KiB is
 * 413 (known from Content-Length before reading anything, or counted while reading); a body that
 * is not JSON, or JSON that is not an object, is 400; a type other than JSON is 415.
 */
export async function readJsonBody(req: IncomingMessage): Promise<Record<string, unknown> | undefined> {
  const declared = req.headers['content-length'];
  if (declared !== undefined && Number(declared) > MAX_BODY_BYTES) throw tooLarge();
  const chunks: Buffer[] = [];
  let size = 0;
  try {
    for await (const chunk of req as AsyncIterable<Buffer>) {
      size += chunk.length;
      if (size > MAX_BODY_BYTES) throw tooLarge();
      chunks.push(chunk);
    }
  } catch (err) {
    if (err instanceof HttpError) throw err;
    // The client went away (or the request timed out) in the middle of its body.
    throw new HttpError(400, `the body was cut off: ${err instanceof Error ? err.message : String(err)}`, { headers: { connection: 'close' } });
  }
  if (size === 0) return undefined;
  const type = req.headers['content-type'];
  if (type !== undefined && !/^application\/json\s*(;|$)/i.test(type)) {
    throw new HttpError(415, `the body must be JSON (Content-Type: application/json), got Content-Type "${type}"`);
  }
  let value: unknown;
  try {
    value = JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch (err) {
    throw new HttpError(400, `the body is not valid JSON: ${err instanceof Error ? err.message : String(err)}`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new HttpError(400, `the body must be a JSON object, got ${Array.isArray(value) ? 'an array' : JSON.stringify(value)}`);
  }
  return value as Record<string, unknown>;
}

function tooLarge(): HttpError {
  // The rest of the body is not read: the connection closes after the answer.
  return new HttpError(413, `the body is over ${MAX_BODY_BYTES} bytes`, { headers: { connection: 'close' } });
}
