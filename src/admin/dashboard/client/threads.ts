/**
 * Client script, part 6: a row per engine thread (engine.threads), so imbalance shows at a
 * glance: each thread's share of the request (or connection) rate and of the threads' CPU, as a
 * percentage and a bar with a mark at the even share (1/N). A thread that burns far more CPU than
 * its even share is marked in the drain colour, with the reason in its title. The table itself is
 * in the fixed markup; the rows come from /stats' threads.
 */
export const threadsJs = String.raw`
const threadViews = new Map();
/** A thread is marked when its share of the threads' CPU is above this many times 1/N ... */
const HOT_FACTOR = 1.5;
/** ... and it uses at least this much of a core (below it the shares are noise). */
const HOT_MIN_CORES = 0.05;
const BAR_WIDTH = 100;
const BAR_HEIGHT = 6;

/** A horizontal bar of a share (0..1) with a mark at the even share; role img, labelled. */
function shareBar(testid, label) {
  const svg = document.createElementNS(SVG_NS, 'svg');
  svg.setAttribute('class', 'bar');
  svg.setAttribute('viewBox', '0 0 ' + BAR_WIDTH + ' ' + BAR_HEIGHT);
  svg.setAttribute('preserveAspectRatio', 'none');
  svg.setAttribute('role', 'img');
  svg.setAttribute('aria-label', label);
  svg.dataset.testid = testid;
  const track = document.createElementNS(SVG_NS, 'rect');
  track.setAttribute('class', 'track');
  track.setAttribute('width', String(BAR_WIDTH));
  track.setAttribute('height', String(BAR_HEIGHT));
  const fill = document.createElementNS(SVG_NS, 'rect');
  fill.setAttribute('class', 'fill');
  fill.setAttribute('width', '0');
  fill.setAttribute('height', String(BAR_HEIGHT));
  const even = document.createElementNS(SVG_NS, 'line');
  even.setAttribute('class', 'even');
  even.setAttribute('y1', '0');
  even.setAttribute('y2', String(BAR_HEIGHT));
  svg.append(track, fill, even);
  return { svg: svg, fill: fill, even: even, label: label };
}

/** Draws share (null: unknown, an empty bar) of N threads' whole. */
function drawShareBar(bar, share, threads) {
  const width = share === null ? 0 : Math.min(1, Math.max(0, share)) * BAR_WIDTH;
  bar.fill.setAttribute('width', width.toFixed(2));
  const even = (BAR_WIDTH / Math.max(1, threads)).toFixed(2);
  bar.even.setAttribute('x1', even);
  bar.even.setAttribute('x2', even);
  bar.svg.setAttribute('aria-label', bar.label + ': ' + (share === null ? 'unknown' : (100 * share).toFixed(1) + '%'));
}

function createThread(t) {
  const id = 'thread-' + t.id + '-';
  const root = el('tr', 'thread');
  root.dataset.testid = 'thread-row-' + t.id;
  const f = {};
  const cell = function (className) {
    const td = el('td', className);
    root.append(td);
    return td;
  };
  f.id = field(id + 'id');
  cell().append(f.id, el('span', 'muted in-out', 'epoxy-engine-' + t.id));
  for (const name of ['sessions', 'accepted', 'requests', 'rate', 'cpu', 'cpu-time']) f[name] = field(id + name);
  for (const name of ['accepted-share', 'rate-share', 'cpu-share']) {
    f[name] = field(id + name);
    f[name].classList.add('share');
  }
  const rateBar = shareBar(id + 'rate-bar', 'share of the rate');
  const cpuBar = shareBar(id + 'cpu-bar', 'share of the threads\' CPU');
  cell('num').append(f.sessions);
  cell('num').append(f.accepted, f['accepted-share']);
  cell('num').append(f.requests);
  cell('num').append(f.rate, f['rate-share'], rateBar.svg);
  cell('num').append(f.cpu, f['cpu-share'], cpuBar.svg);
  cell('num').append(f['cpu-time']);
  return { root: root, f: f, rateBar: rateBar, cpuBar: cpuBar };
}

function updateThread(view, t, r, all, n) {
  const f = view.f;
  show(f.id, String(t.id), t.id);
  show(f.sessions, fmtCount(t.sessions), t.sessions);
  show(f.accepted, fmtCount(t.accepted), t.accepted);
  const acceptedShare = shareOf(t.accepted, all.accepted);
  show(f['accepted-share'], fmtShare(acceptedShare), acceptedShare);
  show(f.requests, fmtCount(t.requests), t.requests);
  show(f.rate, fmtRate(r.rate), r.rate);
  const rateShare = shareOf(r.rate, all.rate);
  show(f['rate-share'], fmtShare(rateShare), rateShare);
  drawShareBar(view.rateBar, rateShare, n);
  show(f.cpu, fmtCores(r.cpu), r.cpu);
  const cpuShare = shareOf(r.cpu, all.cpu);
  show(f['cpu-share'], fmtShare(cpuShare), cpuShare);
  drawShareBar(view.cpuBar, cpuShare, n);
  show(f['cpu-time'], fmtCpuTime(t.cpuMs), t.cpuMs);
  const hot = n > 1 && cpuShare !== null && cpuShare > HOT_FACTOR / n && r.cpu >= HOT_MIN_CORES;
  view.root.classList.toggle('hot', hot);
  view.root.title = hot ? 'this thread uses ' + (100 * cpuShare).toFixed(1) + '% of the threads\' CPU; an even share is ' + (100 / n).toFixed(1) + '%' : '';
}

/** Sums of the threads' counters and rates; a rate is null when any thread's is. */
function threadTotals(threads, rates) {
  const all = { sessions: 0, accepted: 0, requests: 0, cpuMs: 0, rate: 0, cpu: 0 };
  threads.forEach(function (t, i) {
    all.sessions += t.sessions;
    all.accepted += t.accepted;
    all.requests += t.requests;
    all.cpuMs += t.cpuMs;
    all.rate = all.rate === null || rates[i].rate === null ? null : all.rate + rates[i].rate;
    all.cpu = all.cpu === null || rates[i].cpu === null ? null : all.cpu + rates[i].cpu;
  });
  return all;
}

function renderThreads(stats, previous, seconds) {
  // /stats of a proxy from before engine threads has none: the section stays hidden.
  const threads = Array.isArray(stats.threads) ? stats.threads : [];
  document.getElementById('threads-box').hidden = threads.length === 0;
  const before = indexBy(previous && Array.isArray(previous.threads) ? previous.threads : [], function (t) { return t.id; });
  const unit = threadUnit(threads);
  const rates = threads.map(function (t) { return threadRates(before.get(t.id), t, seconds, unit); });
  const all = threadTotals(threads, rates);
  const byId = new Map(threads.map(function (t, i) { return [t.id, rates[i]]; }));
  document.getElementById('threads-rate-header').textContent = unit === 'conn' ? 'conn/s' : 'req/s';
  reconcile(
    document.getElementById('threads-body'),
    threadViews,
    threads,
    function (t) { return t.id; },
    createThread,
    function (view, t) { updateThread(view, t, byId.get(t.id), all, threads.length); },
  );
  show(document.getElementById('threads-count'), fmtCount(threads.length), threads.length);
  show(document.getElementById('threads-all-sessions'), fmtCount(all.sessions), all.sessions);
  show(document.getElementById('threads-all-accepted'), fmtCount(all.accepted), all.accepted);
  show(document.getElementById('threads-all-requests'), fmtCount(all.requests), all.requests);
  show(document.getElementById('threads-all-rate'), fmtRate(all.rate), all.rate);
  show(document.getElementById('threads-all-cpu'), fmtCores(all.cpu), all.cpu);
  show(document.getElementById('threads-all-cpu-time'), fmtCpuTime(all.cpuMs), all.cpuMs);
}
`;
