/**
 * The dashboard's stylesheet. Light and dark follow prefers-color-scheme; the state colours are
 * the same in both (mid tones that read on either background) and each pill's text colour is
 * chosen for contrast with its fill.
 */
export const dashboardStyle = String.raw`
:root {
  color-scheme: light dark;
  --bg: #f5f6f8; --panel: #ffffff; --text: #1b1f24; --muted: #5b6470; --line: #dde1e6; --accent: #2563eb;
  --up: #18794e; --drain: #f0a500; --maint: #6b7280; --down: #c62828; --ejected: #7c3aed;
}
@media (prefers-color-scheme: dark) {
  :root { --bg: #0e1115; --panel: #161a20; --text: #e4e7eb; --muted: #97a1ad; --line: #2a3039; --accent: #6ea1ff; }
}
* { box-sizing: border-box; }
body { margin: 0; background: var(--bg); color: var(--text); font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; }
.wrap { max-width: 1280px; margin: 0 auto; padding: 16px 20px 32px; }
.top { display: flex; flex-wrap: wrap; align-items: baseline; gap: 12px; }
h1 { font-size: 20px; margin: 0; }
h2 { font-size: 13px; margin: 24px 0 8px; text-transform: uppercase; letter-spacing: .06em; color: var(--muted); }
h3 { font-size: 16px; margin: 0; }
a { color: var(--accent); }
.muted { color: var(--muted); }
.value, .num, .spark-box figcaption { font-variant-numeric: tabular-nums; }
.banner { position: sticky; top: 0; z-index: 1; margin: 0; padding: 10px 20px; background: var(--down); color: #fff; font-weight: 600; }
.stale main { opacity: .55; }
.cards { display: grid; grid-template-columns: repeat(auto-fill, minmax(360px, 1fr)); gap: 12px; }
.card, .pool, .threads { background: var(--panel); border: 1px solid var(--line); border-radius: 8px; padding: 12px 14px; }
.pool, .threads { margin-bottom: 12px; overflow-x: auto; }
.card-head { display: flex; flex-wrap: wrap; align-items: center; gap: 10px; margin-bottom: 10px; }
.metrics { display: grid; grid-template-columns: repeat(3, 1fr); gap: 8px 12px; margin: 0; }
.metrics dt { font-size: 12px; color: var(--muted); }
.metrics dd { margin: 0; font-size: 17px; font-weight: 600; }
.unit, .share { margin-left: 4px; font-size: 12px; font-weight: 400; color: var(--muted); }
.sparks { display: flex; gap: 16px; margin-top: 10px; }
.spark-box { margin: 0; flex: 1; }
.spark-box figcaption { font-size: 11px; color: var(--muted); }
.spark { display: block; width: 100%; height: 28px; border-bottom: 1px solid var(--line); }
td .spark { width: 90px; height: 18px; margin-left: auto; }
.spark polyline { fill: none; stroke: var(--accent); stroke-width: 1.5; vector-effect: non-scaling-stroke; }
.pill { display: inline-block; min-width: 52px; padding: 1px 8px; border-radius: 999px; font-size: 12px; font-weight: 600; text-align: center; background: var(--line); color: var(--text); }
.pill.state-up, .pill.state-open, .pill.state-live { background: var(--up); color: #fff; }
.pill.state-drain, .pill.state-paused { background: var(--drain); color: #1f1400; }
.pill.state-maint { background: var(--maint); color: #fff; }
.pill.state-down, .pill.state-disconnected { background: var(--down); color: #fff; }
.pill.state-ejected { background: var(--ejected); color: #fff; }
table { width: 100%; border-collapse: collapse; }
th { font-size: 12px; font-weight: 500; color: var(--muted); text-align: left; padding: 4px 8px; border-bottom: 1px solid var(--line); white-space: nowrap; }
td { padding: 6px 8px; border-bottom: 1px solid var(--line); vertical-align: top; }
tr:last-child td { border-bottom: 0; }
.num { text-align: right; white-space: nowrap; }
.address { font-family: ui-monospace, "SFMono-Regular", Menlo, monospace; }
.in-out { display: block; font-size: 11px; }
.health { color: var(--muted); min-width: 160px; }
tr.server td:first-child { border-left: 4px solid var(--line); }
tr.state-up td:first-child { border-left-color: var(--up); }
tr.state-drain td:first-child { border-left-color: var(--drain); }
tr.state-maint td:first-child { border-left-color: var(--maint); }
tr.state-down td:first-child { border-left-color: var(--down); }
tr.state-ejected td:first-child { border-left-color: var(--ejected); }
tfoot th, tfoot td { border-top: 1px solid var(--line); border-bottom: 0; font-weight: 600; }
tfoot th { font-size: 14px; color: var(--text); }
.bar { display: block; width: 90px; height: 6px; margin: 4px 0 0 auto; }
.bar .track { fill: var(--line); }
.bar .fill { fill: var(--accent); }
.bar .even { stroke: var(--text); stroke-width: 1.5; vector-effect: non-scaling-stroke; }
tr.thread td:first-child { border-left: 4px solid var(--line); }
tr.thread.hot td:first-child { border-left-color: var(--drain); }
tr.thread.hot .bar .fill { fill: var(--drain); }
footer { margin-top: 24px; font-size: 12px; color: var(--muted); }
`;
