// Hand-written SVG bar charts (no dependencies): one horizontal bar per contender with its median,
// a min–max whisker, and the ratio to the scenario's haproxy baseline printed next to it.
import { cellLabel, CONTENDERS } from './contenders.mjs';
import { fmt, fmtRatio, METRICS } from './report.mjs';

const esc = (s) => String(s).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

const MIN_W = 880;
const LABEL_X = 16;
const BAR_X_MIN = 190;
const BAR_MAX = 360;
const ROW_H = 30;
const BAR_H = 18;
const TOP = 62;

/**
 * rows: [{ label, color, bold, value, min, max, text, note }] — a row without a finite value is
 * drawn as text only (`note`, e.g. "n/a (HTTP mode not implemented yet)").
 */
export function barChart({ title, subtitle, rows, footer }) {
  // Room for the longest label left of the bars (≈ 6.8 px per character at 12 px).
  const BAR_X = Math.max(BAR_X_MIN, Math.ceil(LABEL_X + 8 + Math.max(0, ...rows.map((r) => String(r.label).length)) * 6.8));
  const scaleMax = Math.max(1e-12, ...rows.flatMap((r) => [r.value, r.max].filter((x) => Number.isFinite(x))));
  const x = (v) => BAR_X + (Math.max(0, v) / scaleMax) * BAR_MAX;
  // Wide enough for the longest label next to the longest bar (≈ 6.8 px per character at 12 px).
  const textWidth = Math.max(0, ...rows.map((r) => (Number.isFinite(r.value) ? `${r.text}  ${r.note ?? ''}`.length : 0)));
  const W = Math.max(MIN_W, Math.ceil(BAR_X + BAR_MAX + 30 + textWidth * 6.8));
  const height = TOP + rows.length * ROW_H + (footer ? 34 : 14);
  const parts = [];
  parts.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${height}" viewBox="0 0 ${W} ${height}" font-family="-apple-system, 'Segoe UI', Helvetica, Arial, sans-serif" font-size="12">`);
  parts.push(`<rect x="0" y="0" width="${W}" height="${height}" fill="#ffffff"/>`);
  parts.push(`<text x="${LABEL_X}" y="24" font-size="15" font-weight="bold" fill="#202124">${esc(title)}</text>`);
  if (subtitle) parts.push(`<text x="${LABEL_X}" y="44" font-size="11" fill="#5f6368">${esc(subtitle)}</text>`);
  parts.push(`<line x1="${BAR_X}" y1="${TOP - 6}" x2="${BAR_X}" y2="${TOP + rows.length * ROW_H - 6}" stroke="#bdc1c6" stroke-width="1"/>`);
  rows.forEach((r, i) => {
    const y = TOP + i * ROW_H;
    const cy = y + BAR_H / 2;
    parts.push(`<text x="${BAR_X - 8}" y="${cy + 4}" text-anchor="end" fill="#202124"${r.bold ? ' font-weight="bold"' : ''}>${esc(r.label)}</text>`);
    if (!Number.isFinite(r.value)) {
      const note = r.note ?? 'n/a';
      parts.push(`<text x="${BAR_X + 8}" y="${cy + 4}" fill="#80868b" font-style="italic">${esc(note.length > 100 ? `${note.slice(0, 99)}…` : note)}</text>`);
      return;
    }
    const end = x(r.value);
    parts.push(`<rect x="${BAR_X}" y="${y}" width="${Math.max(1, end - BAR_X).toFixed(1)}" height="${BAR_H}" fill="${r.color}" rx="2"><title>${esc(`${r.label}: ${r.text}`)}</title></rect>`);
    let textX = end;
    if (Number.isFinite(r.min) && Number.isFinite(r.max) && r.max > r.min) {
      const [a, b] = [x(r.min), x(r.max)];
      parts.push(`<g stroke="#3c4043" stroke-width="1.2"><line x1="${a.toFixed(1)}" y1="${cy}" x2="${b.toFixed(1)}" y2="${cy}"/><line x1="${a.toFixed(1)}" y1="${cy - 5}" x2="${a.toFixed(1)}" y2="${cy + 5}"/><line x1="${b.toFixed(1)}" y1="${cy - 5}" x2="${b.toFixed(1)}" y2="${cy + 5}"/></g>`);
      textX = Math.max(textX, b);
    }
    parts.push(`<text x="${(textX + 8).toFixed(1)}" y="${cy + 4}" fill="#202124">${esc(r.text)}${r.note ? `<tspan dx="8" fill="#b3261e">${esc(r.note)}</tspan>` : ''}</text>`);
  });
  if (footer) parts.push(`<text x="${LABEL_X}" y="${height - 12}" font-size="10" fill="#80868b">${esc(footer)}</text>`);
  parts.push('</svg>');
  return parts.join('\n') + '\n';
}

/** The charts of one summarized scenario: [{ file, title, svg }]. */
export function scenarioCharts(sc, meta) {
  const base = CONTENDERS[sc.baseline]?.label ?? sc.baseline;
  const machine = `${meta.machine.cpus} vCPU, kernel ${meta.machine.kernel}, haproxy ${meta.versions.haproxy}`;
  const runs = meta.reps > 1 ? `median of ${meta.reps} runs, whiskers min–max` : '1 run';
  return METRICS[sc.kind].map((m) => {
    const rows = sc.cells.map((c) => {
      const def = CONTENDERS[c.contender];
      const s = c.stats?.[m.key];
      const r = c.ratios?.[m.key];
      const flagged = c.flags?.some((f) => f.startsWith('noisy') || f.includes('spread') || f.startsWith('errors'));
      let note;
      if (!c.available) note = `n/a (${c.reason})`;
      else if (!s) note = !CONTENDERS[c.contender]?.kind ? 'no proxy process' : c.failed ? `failed: ${c.failed}` : 'no data';
      else if (flagged) note = '⚠ ' + c.flags.filter((f) => f.startsWith('noisy') || f.includes('spread') || f.startsWith('errors')).map((f) => f.split(' (')[0]).join(', ');
      return {
        label: cellLabel(c, sc),
        color: def?.color ?? '#888',
        bold: c.contender === sc.baseline,
        value: s?.median,
        min: s?.min,
        max: s?.max,
        text: s ? `${fmt(s.median)} ${m.unit}${c.contender === sc.baseline ? ' (baseline)' : r !== undefined ? ` · ${fmtRatio(r)} ${base}` : ''}` : '',
        note,
      };
    });
    const title = `${sc.title} — ${m.label} (${m.unit})`;
    return {
      file: `${sc.id}-${m.chart}.svg`,
      title: `${m.label} (${m.unit})`,
      svg: barChart({
        title,
        subtitle: `${m.higherIsBetter ? 'Higher is better' : 'Lower is better'}; ratios to ${base}${sc.labelThreads ? ' with the same thread count' : ''}. ${sc.command}`,
        rows,
        footer: `${runs}; ${machine}; ${meta.startedAt.slice(0, 10)}${meta.profile === 'quick' ? ' (quick smoke run)' : ''}`,
      }),
    };
  });
}
