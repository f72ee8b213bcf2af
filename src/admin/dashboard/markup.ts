/**
 * The dashboard's fixed markup: header, banner, the containers the script fills and the threads'
 * table around the rows it adds. Nothing from /stats is in it; the script adds that as text.
 */
export const dashboardBody = String.raw`
<p id="banner" class="banner" data-testid="disconnected" role="alert" hidden>
  disconnected: <span id="banner-reason"></span>. Retrying every second; the numbers below are from the last answer.
</p>
<div class="wrap">
<header class="top">
  <h1>epoxy <span id="version" data-testid="version"></span></h1>
  <span id="status" class="pill" data-testid="connection" role="status">connecting</span>
  <span class="muted">up <span id="uptime" data-testid="uptime">—</span> · updated <span id="updated" data-testid="updated">—</span></span>
</header>
<main>
<h2 id="listeners-title">Listeners</h2>
<div id="listeners" class="cards" aria-labelledby="listeners-title"></div>
<div id="threads-box" hidden>
<h2 id="threads-title">Engine threads</h2>
<section id="threads" class="threads" data-testid="threads" aria-labelledby="threads-title">
<table>
<thead><tr>
  <th scope="col">thread</th>
  <th scope="col" class="num" title="client connections open on the thread now">sessions now</th>
  <th scope="col" class="num" title="client connections the thread accepted since start, and its share of all">accepted</th>
  <th scope="col" class="num" title="HTTP requests the thread received since start">requests</th>
  <th scope="col" class="num" id="threads-rate-header" title="since the last poll, and the thread's share; the mark on the bar is an even share">req/s</th>
  <th scope="col" class="num" title="CPU time since the last poll in % of one core, and the thread's share of all threads' CPU; the mark on the bar is an even share">CPU</th>
  <th scope="col" class="num" title="CPU time since start">CPU time</th>
</tr></thead>
<tbody id="threads-body"></tbody>
<tfoot><tr>
  <th scope="row"><span id="threads-count" class="value" data-testid="threads-count">—</span> threads</th>
  <td class="num"><span id="threads-all-sessions" class="value" data-testid="threads-all-sessions">—</span></td>
  <td class="num"><span id="threads-all-accepted" class="value" data-testid="threads-all-accepted">—</span></td>
  <td class="num"><span id="threads-all-requests" class="value" data-testid="threads-all-requests">—</span></td>
  <td class="num"><span id="threads-all-rate" class="value" data-testid="threads-all-rate">—</span></td>
  <td class="num"><span id="threads-all-cpu" class="value" data-testid="threads-all-cpu">—</span></td>
  <td class="num"><span id="threads-all-cpu-time" class="value" data-testid="threads-all-cpu-time">—</span></td>
</tr></tfoot>
</table>
</section>
</div>
<h2 id="pools-title">Pools and servers</h2>
<div id="pools" aria-labelledby="pools-title"></div>
</main>
<footer>
  Updates every second from <a href="./stats">/stats</a> (also: <a href="./metrics">/metrics</a>).
  Rates are counter differences between two reads divided by the proxy's elapsed time between them;
  latency percentiles cover the last minute (admin.latencyWindowMs). A thread's CPU is in % of one
  core; a thread marked in amber uses more than 1.5 times its even share of the threads' CPU.
</footer>
</div>
`;
