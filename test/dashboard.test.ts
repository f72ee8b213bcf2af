/**
 * The live dashboard (GET /) in a real headless Chromium: a real Proxy with an admin server, an
 * HTTP listener over two servers and a TCP listener, traffic flowing all the time. The page must
 * show numbers that move, the very totals /stats has (the two engine threads' too, a row each), a server drained through the API as
 * "drain" in drain's colour within 2 s, and "disconnected" when the admin server goes (and come
 * back with it). One more test feeds the page made-up /stats reads to check its arithmetic,
 * state colours and escaping exactly. Screenshots go to test-artifacts/.
 */
import { mkdirSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';

import { dashboardHtml } from '../src/admin/dashboard.js';
import type { StatsView } from '../src/admin/stats-view.js';
import type { EpoxyConfig, Proxy } from '../src/index.js';
import { epoxyVersion } from '../src/version.js';
import { cleanupsAfterEach, startProxy } from './fixtures.js';
import { echoBackend, freePort, sleep } from './helpers.js';
import { httpBackend, type HttpBackend } from './http-helpers.js';
import {
  STATE_COLOURS,
  launchChromium,
  madeUpRead,
  numberOf,
  pointsOf,
  rawOf,
  startTraffic,
  stateOf,
  textOf,
  watchProblems,
  type Traffic,
} from './dashboard-helpers.js';

const ARTIFACTS = new URL('../test-artifacts/', import.meta.url).pathname;
const cleanups = cleanupsAfterEach();
let browser: Browser | undefined;
let missing: string | undefined;

beforeAll(async () => {
  const launched = await launchChromium();
  if ('browser' in launched) browser = launched.browser;
  else missing = launched.missing;
  mkdirSync(ARTIFACTS, { recursive: true });
}, 30_000);
afterAll(async () => {
  await browser?.close();
});
beforeEach((ctx) => {
  if (!browser) ctx.skip(missing);
});

interface Live {
  proxy: Proxy;
  config: EpoxyConfig;
  admin: string;
  a: HttpBackend;
  b: HttpBackend;
  traffic: Traffic;
  page: Page;
  problems: string[];
}

/** The proxy, its backends, traffic, and the dashboard open in a new browser context. */
async function live(): Promise<Live> {
  // ?status=N answers N, with a 1 KiB body so bandwidth is worth drawing.
  const answer = (req: IncomingMessage, res: ServerResponse) => {
    res.statusCode = Number(new URL(req.url ?? '/', 'http://x').searchParams.get('status') ?? 200);
    res.end('x'.repeat(1024));
  };
  const a = await httpBackend('A', answer);
  const b = await httpBackend('B', answer);
  const e = await echoBackend();
  cleanups.push(() => a.close(), () => b.close(), () => e.close());
  const [web, tcp, adminPort] = [await freePort(), await freePort(), await freePort()];
  const config: EpoxyConfig = {
    listeners: [
      { name: 'web', bind: `127.0.0.1:${web}`, mode: 'http', routes: [{ pool: 'web' }] },
      { name: 'tcp', bind: `127.0.0.1:${tcp}`, mode: 'tcp', pool: 'echo' },
    ],
    // No passive health: the 503s in the traffic must not eject anyone.
    pools: { web: { servers: [a.address, b.address], passive: false }, echo: { servers: [e.address] } },
    admin: { bind: `127.0.0.1:${adminPort}` },
    // Two engine threads whatever the machine: the threads' table has a row each.
    engine: { threads: 2 },
  };
  const proxy = await startProxy(config, cleanups);
  const traffic = startTraffic(web, tcp);
  cleanups.push(() => traffic.pause());
  const admin = `http://127.0.0.1:${adminPort}`;
  const { page, problems } = await open(admin);
  await page.goto(`${admin}/`);
  return { proxy, config, admin, a, b, traffic, page, problems };
}

async function open(origin: string): Promise<{ page: Page; problems: string[] }> {
  const context = await browser!.newContext({ viewport: { width: 1280, height: 900 } });
  cleanups.push(() => context.close());
  const page = await context.newPage();
  return { page, problems: watchProblems(page, origin) };
}

async function stats(admin: string): Promise<StatsView> {
  const res = await fetch(`${admin}/stats`);
  expect(res.status).toBe(200);
  return (await res.json()) as StatsView;
}

/** Waits until nothing is in flight in the proxy, so its counters stop moving. */
async function settled(admin: string): Promise<StatsView> {
  for (let i = 0; i < 300; i++) {
    const s = await stats(admin);
    if (s.listeners.every((l) => l.sessions.current === 0) && s.pools.every((p) => p.sessions.current === 0)) return s;
    await sleep(10);
  }
  throw new Error('sessions still in flight');
}

const server = (address: string, field: string) => `server-web-${address}-${field}`;
const thread = (id: number, field: string) => `thread-${id}-${field}`;

/** The ids of the threads' rows, in the page's order. */
async function threadRows(page: Page): Promise<string[]> {
  const rows = page.locator('#threads-body > tr');
  return rows.evaluateAll((trs) => trs.map((tr) => (tr as HTMLElement).dataset['testid'] ?? ''));
}
const poll = { timeout: 5_000, interval: 100 };

describe('dashboard in headless Chromium', () => {
  it('shows numbers that move while traffic flows, and saves a screenshot', async () => {
    const { page, a, b, traffic, problems } = await live();
    await expect.poll(() => numberOf(page, 'listener-web-rate'), poll).toBeGreaterThan(0);
    const first = await numberOf(page, 'listener-web-requests-total');
    const firstUptime = await textOf(page, 'uptime');
    const firstPoints = await pointsOf(page, 'listener-web-spark-rate');
    await sleep(3_000);
    expect(await numberOf(page, 'listener-web-requests-total')).toBeGreaterThan(first);
    expect(await textOf(page, 'uptime')).not.toBe(firstUptime);
    // A new point every poll: the line has grown and moved.
    const points = await pointsOf(page, 'listener-web-spark-rate');
    expect(points.length).toBeGreaterThanOrEqual(firstPoints.length + 2);
    expect(points).not.toEqual(firstPoints);
    expect(await pointsOf(page, server(a.address, 'spark-bandwidth'))).not.toEqual([]);

    for (const id of ['listener-web-rate', 'listener-tcp-rate', server(a.address, 'rate'), server(b.address, 'rate')]) {
      expect(await numberOf(page, id), id).toBeGreaterThan(0);
    }
    for (const id of ['listener-web-bytes-in-rate', 'listener-web-bytes-out-rate', 'listener-tcp-bytes-in-rate', server(a.address, 'bandwidth')]) {
      expect(await rawOf(page, id), id).toBeGreaterThan(0);
    }
    // One request in ten is a 503, one a 404: over a second of a few hundred requests, both show.
    await expect.poll(() => rawOf(page, 'listener-web-5xx-rate'), poll).toBeGreaterThan(0);
    await expect.poll(() => rawOf(page, 'listener-web-4xx-share'), poll).toBeGreaterThan(0);
    expect(await textOf(page, 'listener-web-p50')).toMatch(/^\d+(\.\d)? ms$/);
    expect(await textOf(page, 'listener-web-p99')).toMatch(/^\d+(\.\d)? (ms|s)$/);
    expect(await textOf(page, 'version')).toBe(epoxyVersion());
    expect(await stateOf(page, server(a.address, 'state'))).toEqual({ text: 'up', colour: STATE_COLOURS.up });

    // A row per engine thread, each with its CPU over the last poll in % of one core and its share.
    expect(await threadRows(page)).toEqual(['thread-row-0', 'thread-row-1']);
    expect(await page.getByTestId('threads').isVisible()).toBe(true);
    expect(await textOf(page, 'threads-count')).toBe('2');
    for (const id of [0, 1]) {
      expect(await textOf(page, thread(id, 'id'))).toBe(String(id));
      expect(await textOf(page, thread(id, 'cpu')), `thread ${id} cpu`).toMatch(/^\d+\.\d%$/);
      expect(await textOf(page, thread(id, 'cpu-time')), `thread ${id} cpu time`).toMatch(/^\d+(\.\d+)? (ms|s)$|^\d+m( \d+s)?$/);
      expect(await numberOf(page, thread(id, 'accepted'))).toBeGreaterThanOrEqual(0);
    }
    // The request rate is shared out whole over the threads.
    const shares = await Promise.all([0, 1].map((id) => rawOf(page, thread(id, 'rate-share'))));
    expect(shares[0]! + shares[1]!).toBeCloseTo(1, 6);
    await page.getByTestId('threads').screenshot({ path: `${ARTIFACTS}dashboard-threads.png` });

    await page.screenshot({ path: `${ARTIFACTS}dashboard.png`, fullPage: true });
    await page.emulateMedia({ colorScheme: 'dark' });
    await page.screenshot({ path: `${ARTIFACTS}dashboard-dark.png`, fullPage: true });
    expect(problems).toEqual([]);
    expect(traffic.failures()).toEqual([]);
  });

  it('shows the totals /stats has, and rates of 0 once traffic stops', async () => {
    const { page, admin, a, b, traffic, problems } = await live();
    await expect.poll(() => numberOf(page, 'listener-web-requests-total'), poll).toBeGreaterThan(100);
    await traffic.pause();
    const s = await settled(admin);
    const web = s.listeners.find((l) => l.name === 'web')!;
    const tcp = s.listeners.find((l) => l.name === 'tcp')!;
    const pool = s.pools.find((p) => p.name === 'web')!;
    const expected: Record<string, number> = {
      'listener-web-requests-total': web.requests.total,
      'listener-web-connections': web.sessions.current,
      'listener-tcp-sessions-total': tcp.sessions.total,
      'listener-tcp-connections': tcp.sessions.current,
      'pool-web-queue': pool.queue.length,
      'pool-web-sessions': pool.sessions.current,
      // Two reads of counters that no longer move: every rate is 0, not an average since start.
      'listener-web-rate': 0,
      'listener-tcp-rate': 0,
      'listener-web-5xx-rate': 0,
    };
    expect(s.threads.map((t) => t.id)).toEqual([0, 1]);
    for (const t of s.threads) {
      expected[thread(t.id, 'sessions')] = t.sessions;
      expected[thread(t.id, 'accepted')] = t.accepted;
      expected[thread(t.id, 'requests')] = t.requests;
      expected[thread(t.id, 'rate')] = 0;
    }
    expected['threads-all-accepted'] = s.totals.sessions.total;
    expected['threads-all-requests'] = s.totals.requests.total;
    expected['threads-all-sessions'] = 0;
    for (const srv of pool.servers) {
      expected[server(srv.address, 'total')] = srv.requests.total;
      expected[server(srv.address, '5xx')] = srv.responses['5xx'];
      expected[server(srv.address, 'connect-failures')] = srv.connectFailures;
      expected[server(srv.address, 'weight')] = srv.weight;
      expected[server(srv.address, 'active')] = srv.sessions.current;
      expected[server(srv.address, 'rate')] = 0;
    }
    expect(Object.keys(expected)).toContain(server(a.address, 'total'));
    expect(Object.keys(expected)).toContain(server(b.address, 'total'));
    expect(web.requests.total).toBeGreaterThan(100);
    const shown = async () => Object.fromEntries(await Promise.all(Object.keys(expected).map(async (id) => [id, await numberOf(page, id)] as const)));
    // The page polls once a second; within a few polls it must show exactly these.
    await expect.poll(shown, poll).toEqual(expected);
    expect(await stats(admin)).toMatchObject({ listeners: [{ requests: { total: web.requests.total } }, { sessions: { total: tcp.sessions.total } }] });

    traffic.resume();
    await expect.poll(() => numberOf(page, 'listener-web-rate'), poll).toBeGreaterThan(0);
    expect(problems).toEqual([]);
  });

  it('shows a server drained through the API as "drain" in its colour within 2 s, and "up" again after ready', async () => {
    const { page, admin, a, b, problems } = await live();
    const state = server(a.address, 'state');
    await expect.poll(() => stateOf(page, state), poll).toEqual({ text: 'up', colour: STATE_COLOURS.up });
    const url = `${admin}/api/pools/web/servers/${encodeURIComponent(a.address)}`;
    const started = Date.now();
    expect((await fetch(`${url}/drain`, { method: 'POST' })).status).toBe(200);
    await expect.poll(() => stateOf(page, state), { timeout: 2_000, interval: 50 }).toEqual({ text: 'drain', colour: STATE_COLOURS.drain });
    expect(Date.now() - started).toBeLessThanOrEqual(2_000);
    expect(await textOf(page, server(a.address, 'health'))).toMatch(/draining/);
    // Drained: no new requests, so its rate falls to 0 while the other server's does not.
    await expect.poll(() => numberOf(page, server(a.address, 'rate')), poll).toBe(0);
    expect(await numberOf(page, server(b.address, 'rate'))).toBeGreaterThan(0);

    expect((await fetch(`${url}/ready`, { method: 'POST' })).status).toBe(200);
    await expect.poll(() => stateOf(page, state), { timeout: 2_000, interval: 50 }).toEqual({ text: 'up', colour: STATE_COLOURS.up });
    await expect.poll(() => numberOf(page, server(a.address, 'rate')), poll).toBeGreaterThan(0);
    expect(problems).toEqual([]);
  });

  it('shows "disconnected" when the admin server stops, and recovers when it is back', async () => {
    const { page, proxy, config, problems } = await live();
    const banner = page.getByTestId('disconnected');
    await expect.poll(() => stateOf(page, 'connection'), poll).toEqual({ text: 'live', colour: STATE_COLOURS.up });
    expect(await banner.isVisible()).toBe(false);

    const { admin: _admin, ...withoutAdmin } = config;
    await proxy.reload(withoutAdmin);
    await expect.poll(() => banner.isVisible(), poll).toBe(true);
    expect(await banner.textContent()).toMatch(/^\s*disconnected: Failed to fetch\. Retrying every second/);
    expect(await stateOf(page, 'connection')).toEqual({ text: 'disconnected', colour: STATE_COLOURS.down });
    // The last numbers stay on the page (dimmed), and it keeps trying.
    const frozen = await numberOf(page, 'listener-web-requests-total');
    const attempts: string[] = [];
    page.on('requestfailed', (req) => attempts.push(req.url()));
    await sleep(2_500);
    expect(await numberOf(page, 'listener-web-requests-total')).toBe(frozen);
    expect(attempts.length).toBeGreaterThanOrEqual(2);
    await page.screenshot({ path: `${ARTIFACTS}dashboard-disconnected.png` });

    await proxy.reload(config);
    await expect.poll(() => banner.isVisible(), poll).toBe(false);
    expect(await textOf(page, 'connection')).toBe('live');
    await expect.poll(() => numberOf(page, 'listener-web-requests-total'), poll).toBeGreaterThan(frozen);
    expect(problems).toEqual([]);
  });

  it('computes rates from counter differences over the proxy\'s elapsed time, colours every state, and shows names as text', async () => {
    // The page and made-up /stats reads under an address no server has: only the page's own
    // arithmetic is between the numbers sent and the numbers shown.
    const origin = 'http://dashboard.test';
    const evil = '<img src=x onerror="window.pwned=1">';
    const { page, problems } = await open(origin);
    let reads = 0;
    let failing = false;
    await page.route(`${origin}/**`, (route) => {
      const path = new URL(route.request().url()).pathname;
      if (path === '/') return route.fulfill({ contentType: 'text/html; charset=utf-8', body: dashboardHtml() });
      if (path !== '/stats') return route.fulfill({ status: 404, body: '' });
      if (failing) return route.fulfill({ status: 503, json: { error: 'proxy is stopped' } });
      return route.fulfill({ json: madeUpRead(reads++, evil) });
    });
    await page.goto(`${origin}/`);
    const expected: Record<string, string> = {
      'listener-web-connections': '3',
      'listener-web-rate': '20.0',
      'listener-web-bytes-in-rate': '2.0 KiB/s',
      'listener-web-bytes-out-rate': '1.5 MiB/s',
      'listener-web-5xx-rate': '2.00',
      'listener-web-5xx-share': '(10.0%)',
      'listener-web-4xx-rate': '1.00',
      'listener-web-4xx-share': '(5.0%)',
      'listener-web-p50': '1.5 ms',
      'listener-web-p99': '30 ms',
      [`listener-${evil}-rate`]: '3.50',
      'server-web-10.0.0.1:80-rate': '5.00',
      'server-web-10.0.0.1:80-bandwidth': '1.0 KiB/s',
      'server-web-10.0.0.4:80-health': 'check failed: connection refused',
      'server-web-10.0.0.5:80-health': 'ejected by passive health · ejections 1',
      'pool-web-queue': '5',
      version: '9.9.9-madeup',
      'threads-count': '3',
      'thread-0-sessions': '2',
      'thread-0-rate': '15.0',
      'thread-0-rate-share': '(75.0%)',
      'thread-1-rate': '2.50',
      'thread-1-rate-share': '(12.5%)',
      'thread-0-cpu': '80.0%',
      'thread-0-cpu-share': '(80.0%)',
      'thread-2-cpu': '10.0%',
      'thread-2-cpu-share': '(10.0%)',
      'threads-all-rate': '20.0',
      'threads-all-cpu': '100.0%',
    };
    const shown = async () => Object.fromEntries(await Promise.all(Object.keys(expected).map(async (id) => [id, await textOf(page, id)] as const)));
    await expect.poll(shown, poll).toEqual(expected);
    expect(await textOf(page, 'uptime')).toMatch(/^\d+s$/);
    // Thread 0 (80% of the threads' CPU, an even share being a third) is marked, the others not;
    // its CPU bar is 80% full, with the even-share mark at a third.
    expect(await threadRows(page)).toEqual(['thread-row-0', 'thread-row-1', 'thread-row-2']);
    const hot = async () => Promise.all([0, 1, 2].map((id) => page.getByTestId(`thread-row-${id}`).evaluate((tr) => tr.classList.contains('hot'))));
    expect(await hot()).toEqual([true, false, false]);
    expect(await page.getByTestId('thread-row-0').getAttribute('title')).toBe("this thread uses 80.0% of the threads' CPU; an even share is 33.3%");
    const bar = page.getByTestId(thread(0, 'cpu-bar'));
    expect(await bar.locator('.fill').getAttribute('width')).toBe('80.00');
    expect(await bar.locator('.even').getAttribute('x1')).toBe('33.33');
    expect(await bar.getAttribute('aria-label')).toBe("share of the threads' CPU: 80.0%");
    const edge = (id: number) => page.getByTestId(`thread-row-${id}`).locator('td').first().evaluate((td) => getComputedStyle(td).borderLeftColor);
    expect(await edge(0)).toBe(STATE_COLOURS.drain);
    expect(await edge(1)).not.toBe(STATE_COLOURS.drain);
    expect(await textOf(page, thread(0, 'cpu-time'))).toMatch(/^\d+(\.\d+)? s$/);
    await page.getByTestId('threads').screenshot({ path: `${ARTIFACTS}dashboard-threads-imbalance.png` });
    expect(await page.getByText('of 100', { exact: true }).count()).toBe(1);
    for (const [i, state] of (['up', 'drain', 'maint', 'down', 'ejected'] as const).entries()) {
      expect(await stateOf(page, `server-web-10.0.0.${i + 1}:80-state`)).toEqual({ text: state, colour: STATE_COLOURS[state] });
    }
    // The listener named with markup is a heading with that text; no <img> was made of it.
    await expect.poll(() => page.getByRole('heading', { name: evil, exact: true }).count(), poll).toBe(1);
    expect(await page.locator('img').count()).toBe(0);
    expect(await page.evaluate(() => 'pwned' in window)).toBe(false);

    failing = true;
    await expect.poll(() => page.getByTestId('disconnected').isVisible(), poll).toBe(true);
    expect(await textOf(page, 'disconnected')).toMatch(/disconnected: \/stats answered HTTP 503\./);
    failing = false;
    await expect.poll(() => page.getByTestId('disconnected').isVisible(), poll).toBe(false);
    expect(problems).toEqual([]);
  });
});
