/**
 * GET /: the live dashboard. One self-contained document: its style and script are inline, and
 * the only request it makes is ./stats, once a second, so it works offline and needs no build
 * step. A Content-Security-Policy allows exactly that: this script and this stylesheet (by
 * hash), connections to the page's own origin, nothing else; the browser enforces it rather than
 * trusting that no string from /stats ever becomes markup.
 */
import { createHash } from 'node:crypto';

import { dashboardBody } from './dashboard/markup.js';
import { dashboardScript } from './dashboard/script.js';
import { dashboardStyle } from './dashboard/style.js';

let page: string | undefined;

/** The whole HTML document (built once: it does not depend on the proxy's state). */
export function dashboardHtml(): string {
  page ??= buildPage();
  return page;
}

function buildPage(): string {
  const csp = [
    "default-src 'none'",
    `script-src '${sha256(dashboardScript)}'`,
    `style-src '${sha256(dashboardStyle)}'`,
    "connect-src 'self'",
    // The favicon below is a data: URL, so the browser asks for no /favicon.ico.
    'img-src data:',
    "base-uri 'none'",
    "form-action 'none'",
  ].join('; ');
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="${csp}">
<title>epoxy</title>
<link rel="icon" href="data:,">
<style>${dashboardStyle}</style>
</head>
<body>
${dashboardBody}
<script>${dashboardScript}</script>
</body>
</html>
`;
}

function sha256(text: string): string {
  return `sha256-${createHash('sha256').update(text, 'utf8').digest('base64')}`;
}
