/**
 * The test-only addon epoxy_testing.node (native/addon/http_testing.cc, built by CMake through
 * cmake-js into build-dev/ by test/global-setup.ts): `httpTesting` runs native/http's parser and
 * chunked decoder on a Buffer, for test/http-differential.test.ts. The addon users load does
 * not contain it. Field bytes come back as latin1 strings, as node:http presents them.
 */
import { createRequire } from 'node:module';

import { testingAddonPath } from './testing-addon.js';

export type HttpFraming = 'none' | 'content-length' | 'chunked' | 'until-close';
export type HeaderPair = [name: string, value: string];

export interface HttpParseError {
  /** The status the proxy answers with: 400, 431, 501, 505 (requests) or 502 (responses). */
  status: number;
  reason: string;
}

interface Failed {
  status: 'incomplete' | 'error';
  error?: HttpParseError;
}

interface ParsedCommon {
  status: 'done';
  minor: number;
  headers: HeaderPair[];
  headLen: number;
  framing: HttpFraming;
  /** A number when exact in a double, else the decimal string. */
  contentLength: number | string;
  keepAlive: boolean;
  upgrade: boolean;
}

export interface ParsedRequest extends ParsedCommon {
  method: string;
  target: string;
  expectContinue: boolean;
  host: string;
}

export interface ParsedResponse extends ParsedCommon {
  statusCode: number;
  reason: string;
  tunnel: boolean;
}

export interface ParseOptions {
  maxHead?: number;
  maxHeaders?: number;
}

export interface DecodeOptions extends ParseOptions {
  /** Bytes arrive this many at a time (default: all at once). */
  pieceSize?: number;
  /** Move chunk data with skip_data() instead of feeding it, as a splicing session does. */
  splice?: boolean;
}

export interface ChunkedResult {
  status: 'done' | 'incomplete' | 'error';
  error?: HttpParseError;
  /** The chunk data, concatenated. */
  data: Buffer;
  /** Bytes of the input that belong to the body (framing included). */
  consumed: number;
  trailers: HeaderPair[];
  forbiddenTrailers: number;
  /** The trailer section as the proxy forwards it, forbidden fields removed. */
  forwardedTrailers: string;
  /** Step kinds in order: 'meta' | 'data' | 'trailers' | 'done' | 'error' | 'spliced'. */
  steps: string[];
}

export interface HttpTesting {
  parseRequest(data: Buffer, options?: ParseOptions): ParsedRequest | Failed;
  parseResponse(data: Buffer, requestMethod: string, options?: ParseOptions): ParsedResponse | Failed;
  decodeChunked(data: Buffer, options?: DecodeOptions): ChunkedResult;
  /** find_head_end called as `data` arrives `pieceSize` bytes at a time. */
  findHeadEnd(data: Buffer, pieceSize?: number): { end: number; calls: number; arrived: number };
  normalizeHost(host: string): string;
}

const loaded = createRequire(import.meta.url)(testingAddonPath()) as { httpTesting: HttpTesting };
export const httpTesting: HttpTesting = loaded.httpTesting;
