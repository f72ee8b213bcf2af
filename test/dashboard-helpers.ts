/**
 * Tools for the dashboard test: Chromium, continuous traffic, reading the page, and made-up
 * /stats reads for checking the page's arithmetic exactly.
 */
import { existsSync } from 'node:fs';
import * as http from 'node:http';
import { chromium, type Browser, type Page } from 'playwright-core';

import type { ListenerView, PoolView, ServerView, StatsView } from '../src/admin/stats-view.js';
import type { ServerStateName } from '../src/index.js';
import { connect, readBytes, sleep } from './helpers.js';
import { request } from './http-helpers.js';

export const CHROMIUM_PATH = process.env['CHROMIUM_PATH'] ?? '/usr/bin/chromium';

/**
 * Debian's Chromium, or why there is none. playwright-core 1.65 is built against Chromium 159
 * (Chrome for Testing) and Debian ships 156; chromium.launch() with executablePath drives it as
 * is (checked: launch, navigation, routing, evaluate, screenshots), because the CDP calls
 * Playwright makes exist in both versions; so no connectOverCDP to a hand-started browser is
 * needed. The Debian wrapper script /usr/bin/chromium is launched directly: it adds the
 * distribution's flags from /etc/chromium.d. --no-sandbox: containers and CI runners as root have
 * no user namespaces for the sandbox.
 *
 * No Chromium at all fails under CI=true (CI installs it: .ci/run) and skips elsewhere.
 */
export async function launchChromium(): Promise<{ browser: Browser } | { missing: string }> {
  if (!existsSync(CHROMIUM_PATH)) {
    const missing = `no Chromium at ${CHROMIUM_PATH}: install Debian's chromium package (scripts/ensure-tools.sh chromium=chromium) or set CHROMIUM_PATH`;
    if (process.env['CI'] === 'true') throw new Error(`dashboard test under CI=true: ${missing}`);
    return { missing };
  }
  return { browser: await chromium.launch({ executablePath: CHROMIUM_PATH, args: ['--no-sandbox', '--headless=new'] }) };
}

// ---- traffic ----

export interface Traffic {
  /** HTTP requests and TCP exchanges that failed (none expected). */
  failures(): string[];
  /** Stops sending and waits for what is in flight; closes the keep-alive connections. */
  pause(): Promise<void>;
  resume(): void;
}

// Mostly 200s, with a 404 and a 503 in every ten requests so error rates are never empty.
const PATHS = ['/', '/', '/', '/?status=404', '/', '/', '/', '/', '/?status=503', '/'];
const TCP_PAYLOAD = Buffer.alloc(4096, 'x');

/**
 * Two keep-alive HTTP clients (a few hundred requests a second) and a TCP client (a 4 KiB echo
 * on a new connection every 50 ms), until paused.
 */
export function startTraffic(web: number, tcp: number): Traffic {
  let running = false;
  let agent: http.Agent;
  let loops: Array<Promise<void>> = [];
  const failures: string[] = [];
  const attempt = async (what: string, f: () => Promise<unknown>) => {
    try {
      await f();
    } catch (err) {
      failures.push(`${what}: ${err instanceof Error ? err.message : String(err)}`);
    }
  };
  const httpLoop = async (offset: number) => {
    for (let i = offset; running; i++) {
      await attempt('http', () => request(web, { path: PATHS[i % PATHS.length]!, agent }));
      await sleep(5);
    }
  };
  const tcpLoop = async () => {
    while (running) {
      await attempt('tcp', async () => {
        const socket = await connect(tcp);
        socket.write(TCP_PAYLOAD);
        const echoed = await readBytes(socket, TCP_PAYLOAD.length);
        socket.destroy();
        if (echoed.length !== TCP_PAYLOAD.length) throw new Error(`echoed ${echoed.length} of ${TCP_PAYLOAD.length} bytes`);
      });
      await sleep(50);
    }
  };
  const resume = () => {
    if (running) return;
    running = true;
    agent = new http.Agent({ keepAlive: true, maxSockets: 2 });
    loops = [httpLoop(0), httpLoop(5), tcpLoop()];
  };
  resume();
  return {
    failures: () => failures,
    async pause() {
      running = false;
      await Promise.all(loops);
      agent.destroy();
    },
    resume,
  };
}

// ---- reading the page ----

/** Everything that went wrong in the page: uncaught errors, console errors, foreign requests. */
export function watchProblems(page: Page, origin: string): string[] {
  const problems: string[] = [];
  page.on('pageerror', (err) => problems.push(`page error: ${err.message}`));
  page.on('console', (msg) => {
    // A failed /stats poll is logged by Chromium itself; the page reports those in its banner.
    if (msg.type() === 'error' && !msg.text().startsWith('Failed to load resource')) problems.push(`console error: ${msg.text()}`);
  });
  page.on('request', (req) => {
    if (!req.url().startsWith(origin)) problems.push(`request outside the admin server: ${req.url()}`);
  });
  return problems;
}

export async function textOf(page: Page, testid: string): Promise<string> {
  return (await page.getByTestId(testid).textContent({ timeout: 5_000 })) ?? '';
}

/** The number a field shows ("12,345" and "20.0" alike); throws when it shows none. */
export async function numberOf(page: Page, testid: string): Promise<number> {
  const text = await textOf(page, testid);
  const n = Number(text.replace(/,/g, ''));
  if (text === '' || !Number.isFinite(n)) throw new Error(`${testid} shows ${JSON.stringify(text)}, not a number`);
  return n;
}

/** The unformatted number behind a field (data-value), for byte rates shown as "2.0 KiB/s". */
export async function rawOf(page: Page, testid: string): Promise<number> {
  const raw = await page.getByTestId(testid).getAttribute('data-value', { timeout: 5_000 });
  const n = Number(raw);
  if (raw === null || raw === '' || !Number.isFinite(n)) throw new Error(`${testid} has data-value ${JSON.stringify(raw)}`);
  return n;
}

/** A state pill: its text, and its colour as the browser computed it. */
export async function stateOf(page: Page, testid: string): Promise<{ text: string; colour: string }> {
  const pill = page.getByTestId(testid);
  const text = (await pill.textContent({ timeout: 5_000 })) ?? '';
  return { text, colour: await pill.evaluate((el) => getComputedStyle(el).backgroundColor) };
}

/** The colours style.ts gives each state (the same in light and dark). */
export const STATE_COLOURS: Record<ServerStateName, string> = {
  up: 'rgb(24, 121, 78)',
  drain: 'rgb(240, 165, 0)',
  maint: 'rgb(107, 114, 128)',
  down: 'rgb(198, 40, 40)',
  ejected: 'rgb(124, 58, 237)',
};

/** The sparkline's points, "x,y x,y ...". */
export async function pointsOf(page: Page, testid: string): Promise<string[]> {
  const points = await page.getByTestId(testid).locator('polyline').getAttribute('points', { timeout: 5_000 });
  return points ? points.split(' ') : [];
}

// ---- made-up /stats reads ----

const LATENCY = { count: 100, meanMs: 4, p50Ms: 2.5, p90Ms: 9, p99Ms: 42 };
// The dashboard shows the recent window, not the since-start figures.
const RECENT_LATENCY = { windowMs: 60_000, count: 10, meanMs: 3, p50Ms: 1.5, p90Ms: 7, p99Ms: 30 };
const NO_BYTES = { in: 0, out: 0, spliced: 0, copied: 0 };

/**
 * Read number `k` (0, 1, 2, ...): every counter grows by a fixed step per read and uptime by 2 s,
 * so every rate after the first read is exact and constant: "web" 20 req/s, 2 KiB/s in,
 * 1.5 MiB/s out, 5xx 2/s (10% of 20 responses/s), 4xx 1/s (5%); the TCP listener, whose name is
 * markup, 3.5 conn/s; each server 5 req/s. Three engine threads share the 20 req/s as 15, 2.5
 * and 2.5 (75%, 12.5%, 12.5%) and use 80%, 10% and 10% of a core (80% of the threads' CPU for
 * thread 0: more than 1.5 times its even third).
 */
export function madeUpRead(k: number, evilName: string): StatsView {
  const web: ListenerView = {
    name: 'web',
    bind: '127.0.0.1:8080',
    mode: 'http',
    state: 'open',
    sessions: { current: 3, total: 50 + 10 * k, max: 100 },
    acceptErrors: 0,
    requests: { total: 100 + 40 * k },
    responses: { none: 0, '1xx': 0, '2xx': 100 + 34 * k, '3xx': 0, '4xx': 2 * k, '5xx': 4 * k },
    bytes: { in: 4096 * k, out: 3 * 1024 * 1024 * k, spliced: 0, copied: 0 },
    latency: LATENCY,
    recentLatency: RECENT_LATENCY,
  };
  const tcp: ListenerView = {
    ...web,
    name: evilName,
    mode: 'tcp',
    sessions: { current: 1, total: 7 * k, max: 0 },
    requests: { total: 0 },
    responses: { none: 0, '1xx': 0, '2xx': 0, '3xx': 0, '4xx': 0, '5xx': 0 },
    bytes: NO_BYTES,
  };
  const states: ServerStateName[] = ['up', 'drain', 'maint', 'down', 'ejected'];
  const servers = states.map((state, i) => madeUpServer(`10.0.0.${i + 1}:80`, state, k));
  const pool: PoolView = {
    name: 'web',
    state: 'up',
    sessions: { current: 3, total: 50 * k },
    requests: { total: 50 * k },
    noServer: 0,
    retries: 0,
    queue: { length: 5, total: 9, timeouts: 0, full: 0 },
    servers,
  };
  return {
    version: '9.9.9-madeup',
    uptimeMs: 10_000 + 2_000 * k,
    listeners: [web, tcp],
    pools: [pool],
    totals: {
      sessions: { current: 4, total: 50 + 17 * k },
      requests: { total: 100 + 40 * k },
      responses: web.responses,
      aborts: 0,
      bytes: { spliced: 0, copied: 0 },
      selectTimeouts: 0,
      logsSuppressed: 0,
      logsDropped: 0,
      loop: { turns: 1000 * k, coalescePauses: 0, coalescedEvents: 0 },
    },
    threads: [
      { id: 0, accepted: 30 + 9 * k, sessions: 2, requests: 60 + 30 * k, loopIterations: 800 * k, cpuMs: 20_000 + 1_600 * k },
      { id: 1, accepted: 10 + 4 * k, sessions: 1, requests: 20 + 5 * k, loopIterations: 100 * k, cpuMs: 200 * k },
      { id: 2, accepted: 10 + 4 * k, sessions: 1, requests: 20 + 5 * k, loopIterations: 100 * k, cpuMs: 200 * k },
    ],
  };
}

function madeUpServer(address: string, state: ServerStateName, k: number): ServerView {
  const checked = state === 'down';
  return {
    address,
    state,
    weight: 2,
    maxconn: 0,
    sessions: { current: 1, total: 10 * k },
    requests: { total: 10 * k },
    responses: { '5xx': k },
    bytes: { in: 1024 * k, out: 1024 * k, spliced: 0, copied: 0 },
    connectFailures: 3,
    resets: 0,
    idleConnections: 0,
    health: {
      check: checked
        ? { up: false, lastCheck: { at: new Date(0).toISOString(), ok: false, reason: 'connection refused', durationMs: 1 }, consecutiveOk: 0, consecutiveFailed: 3 }
        : null,
      passive: { ejected: state === 'ejected', ejections: state === 'ejected' ? 1 : 0 },
    },
    latency: LATENCY,
    recentLatency: RECENT_LATENCY,
  };
}
