/**
 * Client script, part 4: a card per listener. HTTP listeners show requests, errors and latency;
 * TCP listeners new connections per second instead (they count no requests).
 */
export const listenersJs = String.raw`
const listenerViews = new Map();

function createListener(l) {
  const id = 'listener-' + l.name + '-';
  const http = l.mode !== 'tcp';
  const root = el('article', 'card');
  const head = el('header', 'card-head');
  const state = el('span', 'pill');
  state.dataset.testid = id + 'state';
  head.append(el('h3', null, l.name), el('span', 'muted', l.mode.toUpperCase() + ' · ' + l.bind), state);
  const grid = el('dl', 'metrics');
  const f = { state: state };
  function add(name, label, unit, extra) {
    const box = el('div');
    const dd = el('dd');
    f[name] = field(id + name);
    dd.append(f[name]);
    if (unit) dd.append(el('span', 'unit', unit));
    if (extra) {
      f[extra] = field(id + extra);
      f[extra].classList.add('share');
      dd.append(f[extra]);
    }
    box.append(el('dt', null, label), dd);
    grid.append(box);
    return dd;
  }
  f.connectionsMax = el('span', 'unit');
  add('connections', 'connections now').append(f.connectionsMax);
  add('rate', http ? 'requests' : 'new connections', http ? 'req/s' : 'conn/s');
  add(http ? 'requests-total' : 'sessions-total', http ? 'requests total' : 'connections total');
  add('bytes-in-rate', 'in, from clients');
  add('bytes-out-rate', 'out, to clients');
  if (http) {
    add('5xx-rate', '5xx', '/s', '5xx-share');
    add('4xx-rate', '4xx', '/s', '4xx-share');
    add('p50', 'p50 latency, recent');
    add('p99', 'p99 latency, recent');
  }
  const sparks = el('div', 'sparks');
  const rateSpark = sparkline(id + 'spark-rate', http ? 'requests per second' : 'new connections per second');
  const bandwidthSpark = sparkline(id + 'spark-bandwidth', 'bandwidth, in and out');
  sparks.append(labelled(http ? 'req/s' : 'conn/s', rateSpark), labelled('bandwidth', bandwidthSpark));
  root.append(head, grid, sparks);
  return { root: root, f: f, http: http, rateSpark: rateSpark, bandwidthSpark: bandwidthSpark, rates: [], bandwidth: [] };
}

function labelled(label, spark) {
  const box = el('figure', 'spark-box');
  box.append(spark, el('figcaption', null, label));
  return box;
}

function updateListener(view, l, r, fresh) {
  const f = view.f;
  showState(f.state, l.state);
  show(f.connections, fmtCount(l.sessions.current), l.sessions.current);
  f.connectionsMax.textContent = l.sessions.max > 0 ? 'of ' + fmtCount(l.sessions.max) : '';
  show(f.rate, fmtRate(r.rate), r.rate);
  if (view.http) show(f['requests-total'], fmtCount(l.requests.total), l.requests.total);
  else show(f['sessions-total'], fmtCount(l.sessions.total), l.sessions.total);
  show(f['bytes-in-rate'], fmtByteRate(r.bytesIn), r.bytesIn);
  show(f['bytes-out-rate'], fmtByteRate(r.bytesOut), r.bytesOut);
  if (view.http) {
    show(f['5xx-rate'], fmtRate(r.errors5xx), r.errors5xx);
    const share5xx = shareOf(r.errors5xx, r.responses);
    show(f['5xx-share'], fmtShare(share5xx), share5xx);
    show(f['4xx-rate'], fmtRate(r.errors4xx), r.errors4xx);
    const share4xx = shareOf(r.errors4xx, r.responses);
    show(f['4xx-share'], fmtShare(share4xx), share4xx);
    show(f.p50, fmtMs(l.recentLatency.p50Ms), l.recentLatency.p50Ms);
    show(f.p99, fmtMs(l.recentLatency.p99Ms), l.recentLatency.p99Ms);
  }
  if (!fresh) return;
  remember(view.rates, r.rate);
  remember(view.bandwidth, r.bytesIn === null || r.bytesOut === null ? null : r.bytesIn + r.bytesOut);
  drawSparkline(view.rateSpark, view.rates);
  drawSparkline(view.bandwidthSpark, view.bandwidth);
}

function renderListeners(stats, previous, seconds) {
  const before = indexBy(previous ? previous.listeners : [], function (l) { return l.name; });
  reconcile(
    document.getElementById('listeners'),
    listenerViews,
    stats.listeners,
    function (l) { return l.mode + ' ' + l.name; },
    createListener,
    function (view, l) { updateListener(view, l, listenerRates(before.get(l.name), l, seconds), seconds > 0); },
  );
}
`;
