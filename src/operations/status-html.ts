/**
 * `status --html FILE`: one self-contained page (the charting library, its stylesheet and the data inlined; a
 * Content-Security-Policy that allows no request at all) with the key numbers, the cumulative migrations chart
 * (uPlot) and the decommission checklist. Every value is escaped for HTML; the data travels as JSON in a
 * non-executable script element, with "<", ">" and "&" written as \u escapes.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import type { StatusReport } from './status.js';

const requireCjs = createRequire(import.meta.url);

let library: { js: string; css: string } | undefined;

/** uPlot's browser build, read once. A "</script" or "<!--" inside it would end or bend the script element. */
function uplot(): { js: string; css: string } {
  if (!library) {
    const js = readFileSync(requireCjs.resolve('uplot/dist/uPlot.iife.min.js'), 'utf8');
    const css = readFileSync(requireCjs.resolve('uplot/dist/uPlot.min.css'), 'utf8');
    if (/<\/script|<!--/i.test(js) || /<\/style/i.test(css)) throw new Error('the uPlot build cannot be inlined as it is');
    library = { js, css };
  }
  return library;
}

const ENTITIES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };
export function escapeHtml(v: unknown): string {
  return String(v).replace(/[&<>"']/g, (c) => ENTITIES[c]!);
}

/** JSON that can sit inside a <script> element: no "<", ">" or "&" left to end it or open a comment. */
function scriptJson(v: unknown): string {
  return JSON.stringify(v).replace(/[<>&\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

const sha256 = (s: string) => `'sha256-${createHash('sha256').update(s, 'utf8').digest('base64')}'`;
const fmt = (n: number) => n.toLocaleString('en-US');

/**
 * Draws the chart from the embedded data: a step line (the total holds until the next day with marks), from 0 the day
 * before the first mark; the y axis reaches the total, drawn dashed.
 */
const CHART_SCRIPT = `(function () {
  var data = JSON.parse(document.getElementById('status-data').textContent);
  var el = document.getElementById('chart');
  if (!el || data.cumulative.length === 0) return;
  var day = 86400;
  var xs = data.cumulative.map(function (d) { return Date.parse(d.day + 'T00:00:00Z') / 1000; });
  var ys = data.cumulative.map(function (d) { return d.migrated; });
  xs.unshift(xs[0] - day);
  ys.unshift(0);
  var total = xs.map(function () { return data.total; });
  var chart = new uPlot({
    width: Math.max(320, el.clientWidth),
    height: 320,
    tzDate: function (ts) { return uPlot.tzDate(new Date(ts * 1e3), 'Etc/UTC'); },
    scales: { y: { range: function (u, min, max) { return [0, Math.max(data.total, max, 1)]; } } },
    series: [
      { label: 'Day (UTC)' },
      { label: 'Migrated (cumulative)', stroke: '#1d4ed8', fill: 'rgba(29, 78, 216, 0.15)', width: 2, paths: uPlot.paths.stepped({ align: 1 }), points: { show: xs.length <= 60 } },
      { label: 'Total users', stroke: '#6b7280', dash: [6, 4], width: 1, points: { show: false } }
    ],
    axes: [{}, { size: 70 }],
    legend: { live: false }
  }, [xs, ys, total], el);
  document.body.setAttribute('data-chart', 'rendered');
  window.statusChart = chart;
})();`;

const PAGE_CSS = `
body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #111827; margin: 0 auto; max-width: 980px; padding: 24px; }
h1 { font-size: 24px; margin: 0 0 4px; } h2 { font-size: 18px; margin: 28px 0 10px; }
.as-of { color: #4b5563; margin: 0; } .drain { background: #fef3c7; border: 1px solid #f59e0b; padding: 8px 12px; border-radius: 6px; }
.numbers { display: grid; grid-template-columns: repeat(auto-fit, minmax(150px, 1fr)); gap: 12px; margin-top: 20px; }
.card { border: 1px solid #e5e7eb; border-radius: 8px; padding: 12px 14px; }
.card .label { color: #4b5563; font-size: 13px; } .card .value { font-size: 26px; font-weight: 600; } .card .pct { color: #4b5563; font-size: 13px; }
#chart { min-height: 40px; } .empty { color: #4b5563; }
ol.steps { padding-left: 0; list-style: none; } ol.steps li { border-left: 4px solid #d1d5db; padding: 6px 12px; margin: 10px 0; }
ol.steps li.done { border-color: #16a34a; } ol.steps li.todo { border-color: #dc2626; } ol.steps li.manual { border-color: #f59e0b; }
ol.steps .state { font-size: 12px; font-weight: 600; text-transform: uppercase; margin-right: 6px; } ol.steps p { margin: 4px 0 0; color: #374151; }
.ready { font-weight: 600; } table { border-collapse: collapse; } td, th { padding: 2px 12px; text-align: right; border-bottom: 1px solid #f3f4f6; }
`;

function card(key: string, label: string, value: number | null, pct?: number | null): string {
  const shown = value === null ? 'n/a' : fmt(value);
  const extra = pct === undefined ? '' : `<div class="pct">${pct === null ? 'no export ledger' : `${escapeHtml(pct.toFixed(2))}%`}</div>`;
  return `<div class="card"><div class="label">${escapeHtml(label)}</div><div class="value" data-key="${escapeHtml(key)}" data-value="${escapeHtml(value ?? '')}">${escapeHtml(shown)}</div>${extra}</div>`;
}

const STATE = { true: ['done', 'done'], false: ['todo', 'to do'], null: ['manual', 'confirm by hand'] } as const;

export function renderStatusHtml(r: StatusReport): string {
  const { js, css } = uplot();
  const csp = `default-src 'none'; script-src ${sha256(js)} ${sha256(CHART_SCRIPT)}; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'`;
  const numbers = [
    card('total', 'Total users', r.total),
    card('migrated', 'Migrated', r.migrated, r.percent.migrated),
    card('exported', 'Exported, not migrated', r.exported, r.percent.exported),
    card('remaining', 'Remaining', r.remaining, r.percent.remaining),
    ...(r.active_remaining
      ? [card('active_30', 'Remaining, active in 30 days', r.active_remaining.days_30), card('active_90', 'Remaining, active in 90 days', r.active_remaining.days_90)]
      : []),
  ].join('\n');
  const steps = r.decommission.steps
    .map((s) => {
      const [cls, label] = STATE[String(s.done) as 'true' | 'false' | 'null'];
      return `<li class="${cls}" data-step="${escapeHtml(s.step)}" data-done="${escapeHtml(String(s.done))}"><span class="state">${escapeHtml(label)}</span><strong>${escapeHtml(s.title)}</strong><p>${escapeHtml(s.detail)}</p></li>`;
    })
    .join('\n');
  const chart =
    r.cumulative.length > 0
      ? '<div id="chart" role="img" aria-label="Cumulative migrations per day"></div>'
      : '<p class="empty" id="no-chart">No migrations recorded yet.</p>';
  const rows = r.per_day
    .slice()
    .reverse()
    .map((d, i, all) => `<tr><td>${escapeHtml(d.day)}</td><td>${escapeHtml(fmt(d.count))}</td><td>${escapeHtml(fmt(r.cumulative[all.length - 1 - i]!.migrated))}</td></tr>`)
    .join('');
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="${escapeHtml(csp)}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>Migration status, ${escapeHtml(r.as_of)}</title>
<style>${css}${PAGE_CSS}</style>
</head>
<body>
<h1>Migration status</h1>
<p class="as-of">As of <time datetime="${escapeHtml(r.as_of)}" id="as-of">${escapeHtml(r.as_of)}</time></p>
${r.drain ? '<p class="drain" id="drain">Drain is on: the gateway no longer reads the legacy store and answers as if it were empty.</p>' : ''}
<section class="numbers" aria-label="Key numbers">
${numbers}
</section>
<h2>Cumulative migrations</h2>
${chart}
<h2>Decommission checklist</h2>
<p class="ready" id="ready" data-ready="${escapeHtml(String(r.decommission.ready))}">${r.decommission.ready ? 'Ready: every user is migrated or exported. Follow the remaining steps in order.' : 'Not ready yet: users still depend on the legacy store.'}</p>
<ol class="steps">
${steps}
</ol>
${rows ? `<details><summary>Migrations per day (UTC)</summary><table id="per-day"><thead><tr><th>Day</th><th>Migrated</th><th>Cumulative</th></tr></thead><tbody>${rows}</tbody></table></details>` : ''}
<script type="application/json" id="status-data">${scriptJson(r)}</script>
<script>${js}</script>
<script>${CHART_SCRIPT}</script>
</body>
</html>
`;
}
