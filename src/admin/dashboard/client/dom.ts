/**
 * Client script, part 3: building the page. Every string from /stats reaches the DOM through
 * textContent or setAttribute (data-testid, aria-label), never through innerHTML: a pool named
 * `<img onerror=...>` shows as that text.
 */
export const domJs = String.raw`
const SVG_NS = 'http://www.w3.org/2000/svg';
/** Points a sparkline keeps: one a poll, the last minute. */
const HISTORY = 60;
const SPARK_HEIGHT = 20;

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

/** A number the page updates, with a stable data-testid for tests and scripts. */
function field(testid) {
  const node = el('span', 'value', '—');
  node.dataset.testid = testid;
  return node;
}

/** Shows text, and keeps the unformatted number in data-value. */
function show(node, text, raw) {
  if (node.textContent !== text) node.textContent = text;
  node.dataset.value = raw === null || raw === undefined ? '' : String(raw);
}

/** A state as text in a pill coloured by CSS (.state-up, .state-drain, ...). */
function showState(node, state) {
  if (node.textContent === state) return;
  node.textContent = state;
  node.className = 'pill state-' + state;
}

function sparkline(testid, label) {
  const svg = document.createElementNS(SVG_NS, 'svg');
  svg.setAttribute('class', 'spark');
  svg.setAttribute('viewBox', '0 0 ' + (HISTORY - 1) + ' ' + SPARK_HEIGHT);
  svg.setAttribute('preserveAspectRatio', 'none');
  svg.setAttribute('role', 'img');
  svg.setAttribute('aria-label', label + ', last minute');
  svg.dataset.testid = testid;
  svg.appendChild(document.createElementNS(SVG_NS, 'polyline'));
  return svg;
}

/** A series of the last HISTORY values of one rate; unknown rates count as 0. */
function remember(series, value) {
  series.push(value === null ? 0 : value);
  if (series.length > HISTORY) series.shift();
}

/** Draws a series right-aligned, scaled to its own maximum (a flat line at the bottom when all 0). */
function drawSparkline(svg, series) {
  const max = Math.max(0, ...series);
  const offset = HISTORY - series.length;
  const points = series.map(function (v, i) {
    const y = max === 0 ? SPARK_HEIGHT - 1 : SPARK_HEIGHT - 1 - (v / max) * (SPARK_HEIGHT - 2);
    return (offset + i) + ',' + y.toFixed(2);
  });
  svg.firstChild.setAttribute('points', points.join(' '));
}

/**
 * Keeps container's children in step with items: one view per key, created once, updated on
 * every poll, removed when its item is gone; children follow the items' order.
 */
function reconcile(container, views, items, keyOf, create, update) {
  const seen = new Set();
  items.forEach(function (item, i) {
    const key = keyOf(item);
    seen.add(key);
    let view = views.get(key);
    if (!view) {
      view = create(item);
      views.set(key, view);
    }
    update(view, item);
    const here = container.children[i];
    if (here !== view.root) container.insertBefore(view.root, here || null);
  });
  for (const [key, view] of views) {
    if (seen.has(key)) continue;
    view.root.remove();
    views.delete(key);
  }
}
`;
