/**
 * The dashboard's fixed markup: header, banner and the two containers the script fills. Nothing
 * from /stats is in it; the script adds that as text.
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
<h2 id="pools-title">Pools and servers</h2>
<div id="pools" aria-labelledby="pools-title"></div>
</main>
<footer>
  Updates every second from <a href="./stats">/stats</a> (also: <a href="./metrics">/metrics</a>).
  Rates are counter differences between two reads divided by the proxy's elapsed time between them;
  latency percentiles cover the last minute (admin.latencyWindowMs).
</footer>
</div>
`;
