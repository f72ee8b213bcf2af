/**
 * Client script, part 5: a table per pool, a row per server. The state shows as a coloured pill
 * with the state's name in it (colour alone is not enough to read it), and the row carries the
 * colour at its edge.
 */
export const poolsJs = String.raw`
const poolViews = new Map();
const SERVER_COLUMNS = ['state', 'server', 'weight', 'active', 'total', 'rate', 'bandwidth', '5xx', 'connect failures', 'health'];

function createPool(p) {
  const id = 'pool-' + p.name + '-';
  const root = el('section', 'pool');
  const head = el('header', 'card-head');
  const f = { state: el('span', 'pill'), queue: field(id + 'queue'), sessions: field(id + 'sessions'), noServer: field(id + 'no-server') };
  f.state.dataset.testid = id + 'state';
  const facts = el('span', 'muted facts');
  facts.append('sessions now ', f.sessions, ' · queue ', f.queue, ' · no server ', f.noServer);
  head.append(el('h3', null, p.name), f.state, facts);
  const table = el('table', 'servers');
  const headRow = el('tr');
  const rateHeader = el('th', 'num');
  const totalHeader = el('th', 'num');
  for (const name of SERVER_COLUMNS) {
    const th = name === 'rate' ? rateHeader : name === 'total' ? totalHeader : el('th', name === 'server' || name === 'state' || name === 'health' ? null : 'num', name);
    th.scope = 'col';
    if (name === 'bandwidth') th.title = 'in: from the server, out: to the server';
    if (name === 'active') th.title = 'sessions (TCP connections, HTTP requests in flight) using the server now';
    headRow.append(th);
  }
  const body = el('tbody');
  table.append(el('thead'), body);
  table.tHead.append(headRow);
  root.append(head, table);
  return { root: root, f: f, body: body, rateHeader: rateHeader, totalHeader: totalHeader, rows: new Map() };
}

function createServer(pool, s) {
  const id = 'server-' + pool + '-' + s.address + '-';
  const root = el('tr', 'server');
  const f = {};
  const cell = function (className, text) {
    const td = el('td', className, text);
    root.append(td);
    return td;
  };
  f.state = el('span', 'pill');
  f.state.dataset.testid = id + 'state';
  cell().append(f.state);
  cell('address', s.address);
  for (const name of ['weight', 'active', 'total']) {
    f[name] = field(id + name);
    cell('num').append(f[name]);
  }
  const rateSpark = sparkline(id + 'spark-rate', 'rate');
  const bandwidthSpark = sparkline(id + 'spark-bandwidth', 'bandwidth, in and out');
  f.rate = field(id + 'rate');
  cell('num').append(f.rate, rateSpark);
  f.bandwidth = field(id + 'bandwidth');
  f.inOut = el('span', 'muted in-out');
  cell('num').append(f.bandwidth, f.inOut, bandwidthSpark);
  for (const name of ['5xx', 'connect-failures']) {
    f[name] = field(id + name);
    cell('num').append(f[name]);
  }
  f.health = field(id + 'health');
  cell('health').append(f.health);
  return { root: root, f: f, rateSpark: rateSpark, bandwidthSpark: bandwidthSpark, rates: [], bandwidth: [] };
}

/** What a server's health amounts to, in words: the operator's state, the last check, ejections. */
function healthText(s) {
  const parts = [];
  if (s.state === 'maint') parts.push('maintenance: not checked');
  if (s.state === 'drain') parts.push('draining: no new sessions');
  const check = s.health.check;
  if (check && check.lastCheck) parts.push('check ' + (check.lastCheck.ok ? 'ok' : 'failed') + ': ' + check.lastCheck.reason);
  else if (check) parts.push('first check pending');
  if (s.health.passive.ejected) parts.push('ejected by passive health');
  if (s.health.passive.ejections > 0) parts.push('ejections ' + s.health.passive.ejections);
  return parts.length ? parts.join(' · ') : 'ok (no active checks)';
}

function updateServer(view, s, unit, r, fresh) {
  const f = view.f;
  view.root.className = 'server state-' + s.state;
  showState(f.state, s.state);
  show(f.weight, String(s.weight), s.weight);
  show(f.active, fmtCount(s.sessions.current), s.sessions.current);
  const total = unit === 'conn' ? s.sessions.total : s.requests.total;
  show(f.total, fmtCount(total), total);
  show(f.rate, fmtRate(r.rate), r.rate);
  show(f.bandwidth, fmtByteRate(r.bandwidth), r.bandwidth);
  f.inOut.textContent = r.bandwidth === null ? '' : 'in ' + fmtByteRate(r.bytesIn) + ' · out ' + fmtByteRate(r.bytesOut);
  show(f['5xx'], fmtCount(s.responses['5xx']), s.responses['5xx']);
  show(f['connect-failures'], fmtCount(s.connectFailures), s.connectFailures);
  show(f.health, healthText(s), null);
  if (!fresh) return;
  remember(view.rates, r.rate);
  remember(view.bandwidth, r.bandwidth);
  drawSparkline(view.rateSpark, view.rates);
  drawSparkline(view.bandwidthSpark, view.bandwidth);
}

function updatePool(view, p, before, seconds) {
  const f = view.f;
  showState(f.state, p.state);
  show(f.sessions, fmtCount(p.sessions.current), p.sessions.current);
  show(f.queue, fmtCount(p.queue.length), p.queue.length);
  show(f.noServer, fmtCount(p.noServer), p.noServer);
  const unit = poolUnit(p);
  view.rateHeader.textContent = unit === 'conn' ? 'conn/s' : 'req/s';
  view.totalHeader.textContent = unit === 'conn' ? 'connections' : 'requests';
  const servers = indexBy(before ? before.servers : [], function (s) { return s.address; });
  reconcile(
    view.body,
    view.rows,
    p.servers,
    function (s) { return s.address; },
    function (s) { return createServer(p.name, s); },
    function (row, s) { updateServer(row, s, unit, serverRates(servers.get(s.address), s, seconds, unit), seconds > 0); },
  );
}

function renderPools(stats, previous, seconds) {
  const before = indexBy(previous ? previous.pools : [], function (p) { return p.name; });
  reconcile(
    document.getElementById('pools'),
    poolViews,
    stats.pools,
    function (p) { return p.name; },
    createPool,
    function (view, p) { updatePool(view, p, before.get(p.name), seconds); },
  );
}
`;
