/**
 * GET /: the page a browser gets at the admin URL. A placeholder with links until the live
 * dashboard replaces this module (same export: a function returning the whole HTML document).
 */
import { epoxyVersion } from '../version.js';

export function dashboardHtml(): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>epoxy admin</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
</head>
<body>
<h1>epoxy ${escapeHtml(epoxyVersion())}</h1>
<ul>
<li><a href="/stats">/stats</a>: listeners, pools and servers as JSON</li>
<li><a href="/metrics">/metrics</a>: Prometheus metrics</li>
</ul>
</body>
</html>
`;
}

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}
