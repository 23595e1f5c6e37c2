import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import type { ReportSeries } from './reducer.js';

/** The six aggregate outputs as they are on disk (parsed; undefined when not written). */
export interface OutputsOnDisk {
  baseline?: Record<string, unknown> | undefined;
  postRollout?: Record<string, unknown> | undefined;
  completeness?: Record<string, unknown> | undefined;
  perEpoch?: { epochs?: unknown[] } | undefined;
  mttrDelta?: Record<string, unknown> | undefined;
  state?: Record<string, unknown> | undefined;
}

export interface PageInput {
  series: ReportSeries;
  outputs: OutputsOnDisk;
  root: string;
  generatedAt: string;
}

/**
 * uPlot (MIT) read from node_modules when a page is written, and inlined:
 * the page works offline and as a mail attachment, with no request at all.
 */
function uplotAssets(): { js: string; css: string } {
  const req = createRequire(import.meta.url);
  const dir = req.resolve('uplot').replace(/uPlot\.cjs\.js$/, '');
  return { js: readFileSync(`${dir}uPlot.iife.min.js`, 'utf8'), css: readFileSync(`${dir}uPlot.min.css`, 'utf8') };
}

const esc = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

/** JSON inside <script>: "<" escaped so no value can close the element. */
const scriptJson = (v: unknown) => JSON.stringify(v).replace(/</g, '\\u003c').replace(/\u2028/g, '\\u2028').replace(/\u2029/g, '\\u2029');

/** One headline number: its output file and field ride along, so a reader (or a test) can check it against the file. */
function figure(output: string, field: string, label: string, value: unknown, fmt: (v: unknown) => string = plain): string {
  return `<div class="fig"><dt>${esc(label)}</dt><dd data-output="${esc(output)}" data-field="${esc(field)}" data-value="${esc(JSON.stringify(value ?? null))}">${esc(value === undefined || value === null ? '–' : fmt(value))}</dd></div>`;
}

function plain(v: unknown): string {
  return typeof v === 'number' ? (Number.isInteger(v) ? String(v) : v.toFixed(4)) : typeof v === 'boolean' ? (v ? 'yes' : 'no') : String(v);
}

const pct = (v: unknown) => (typeof v === 'number' ? `${(v * 100).toFixed(2)}%` : String(v));
const secs = (v: unknown) => (typeof v === 'number' ? `${v.toFixed(1)} s` : String(v));

function get(o: Record<string, unknown> | undefined, path: string): unknown {
  let v: unknown = o;
  for (const k of path.split('.')) v = typeof v === 'object' && v !== null ? (v as Record<string, unknown>)[k] : undefined;
  return v;
}

function headline(o: OutputsOnDisk): string {
  const card = (title: string, file: string, body: string[]) => `<section class="card"><h3>${esc(title)} <small>${esc(file)}</small></h3><dl>${body.join('')}</dl></section>`;
  const epochs = Array.isArray(o.perEpoch?.epochs) ? (o.perEpoch!.epochs as Array<Record<string, unknown>>) : undefined;
  const sum = (k: string) => (epochs ? Math.round(epochs.reduce((a, e) => a + (typeof e[k] === 'number' ? (e[k] as number) : 0), 0) * 1e6) / 1e6 : undefined);
  return [
    card('Completion', 'post-rollout.json', [
      figure('post-rollout.json', 'completion_rate', 'completion rate', get(o.postRollout, 'completion_rate'), pct),
      figure('post-rollout.json', 'total_runs', 'runs', get(o.postRollout, 'total_runs')),
      figure('post-rollout.json', 'succeeded_runs', 'succeeded', get(o.postRollout, 'succeeded_runs')),
      figure('post-rollout.json', 'meets_threshold', 'meets 0.95', get(o.postRollout, 'meets_threshold')),
    ]),
    card('MTTR', 'mttr-delta.json', [
      figure('mttr-delta.json', 'current_mttr_seconds', 'current', get(o.mttrDelta, 'current_mttr_seconds'), secs),
      figure('mttr-delta.json', 'baseline_mttr_seconds', 'baseline', get(o.mttrDelta, 'baseline_mttr_seconds'), secs),
      figure('mttr-delta.json', 'reduction_percent', 'reduction', get(o.mttrDelta, 'reduction_percent'), pct),
      figure('mttr-delta.json', 'meets_threshold', 'meets 0.6 x baseline', get(o.mttrDelta, 'meets_threshold')),
    ]),
    card('Completeness', 'completeness.json', [
      figure('completeness.json', 'missing_field_ratio', 'missing-field ratio', get(o.completeness, 'missing_field_ratio'), pct),
      figure('completeness.json', 'meets_threshold', 'meets < 0.05', get(o.completeness, 'meets_threshold')),
    ]),
    card('Baseline', 'baseline.json', [
      figure('baseline.json', 'run_id', 'first run', get(o.baseline, 'run_id')),
      figure('baseline.json', 'recorded_at', 'recorded at', get(o.baseline, 'recorded_at')),
      figure('baseline.json', 'duration_seconds', 'duration', get(o.baseline, 'duration_seconds'), secs),
    ]),
    card('Epochs', 'per-epoch.json', [
      figure('per-epoch.json', 'epochs.length', 'epochs', epochs?.length),
      figure('per-epoch.json', 'sum(cost_usd)', 'cost (USD)', sum('cost_usd'), (v) => (typeof v === 'number' ? v.toFixed(6) : String(v))),
      figure('per-epoch.json', 'sum(token_total)', 'tokens', sum('token_total')),
    ]),
    card('Safety', 'state.json', [
      figure('state.json', 'safety.validation.passed', 'validations passed', get(o.state, 'safety.validation.passed')),
      figure('state.json', 'safety.validation.failed', 'validations failed', get(o.state, 'safety.validation.failed')),
      figure('state.json', 'safety.regression_detection.detected', 'regressions', get(o.state, 'safety.regression_detection.detected')),
      figure('state.json', 'alerts.total', 'alerts', get(o.state, 'alerts.total')),
    ]),
  ].join('\n');
}

/** The page's own script: builds the charts from DATA with uPlot (runs in the browser). */
const CHARTS = String.raw`
(function () {
  var D = DATA.series, B = DATA.mttrBaseline, DAY = 86400;
  var t = D.days.map(function (d) { return Date.parse(d + 'T00:00:00Z') / 1000; });
  var width = Math.max(320, Math.min(1100, document.body.clientWidth - 48));
  var fill = function (xs, v) { return xs.map(function () { return v; }); };
  var line = function (label, stroke) { return { label: label, stroke: stroke, width: 2, points: { show: true, size: 5 } }; };
  var dashed = function (label, stroke) { return { label: label, stroke: stroke, width: 1.5, dash: [6, 4], points: { show: false } }; };
  var bars = uPlot.paths && uPlot.paths.bars ? uPlot.paths.bars({ size: [0.7, 40] }) : undefined;
  var bar = function (label, stroke, color) { return { label: label, stroke: stroke, fill: color, paths: bars, points: { show: false } }; };
  // Half a step of room on each side, so the first and last bars are whole.
  var padded = function (step) { return function (u, min, max) { return [min - step / 2, max + step / 2]; }; };
  var fromZero = function (u, min, max) { return [0, max > 0 ? max * 1.1 : 1]; };
  var dayAxis = { space: 70, incrs: [DAY, 2 * DAY, 7 * DAY, 14 * DAY, 28 * DAY, 91 * DAY, 182 * DAY, 364 * DAY],
    values: function (u, vals) { return vals.map(function (v) { return new Date(v * 1000).toISOString().slice(0, 10); }); } };
  var epochAxis = { label: 'epoch', incrs: [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000], values: function (u, vals) { return vals.map(String); } };
  var yAxis = { size: 70 };
  var dayX = { time: false, range: padded(DAY) };
  var epochX = { time: false, range: padded(1) };
  function chart(id, opts, data) {
    var el = document.getElementById(id);
    if (!data[0].length) { el.textContent = opts.title + ': no data yet'; el.className += ' empty'; return; }
    opts.width = width; opts.height = 260;
    opts.legend = { live: false };
    new uPlot(opts, data, el);
  }
  chart('completion-daily', { title: 'Completion rate per day (UTC)', scales: { x: dayX, y: { range: [0, 1.05] } }, axes: [dayAxis, yAxis],
    series: [{ label: 'day' }, line('completion rate', '#2563eb'), dashed('threshold 0.95', '#dc2626')] }, [t, D.completionRate, fill(t, 0.95)]);
  chart('completion-epoch', { title: 'Completion rate per epoch', scales: { x: epochX, y: { range: [0, 1.05] } }, axes: [epochAxis, yAxis],
    series: [{ label: 'epoch' }, line('completion rate', '#2563eb'), dashed('threshold 0.95', '#dc2626')] }, [D.epochs, D.epochCompletionRate, fill(D.epochs, 0.95)]);
  var mttrSeries = [{ label: 'day' }, line('MTTR of the day (s)', '#7c3aed'), line('MTTR to date (s)', '#059669')];
  var mttrData = [t, D.mttr, D.mttrToDate];
  if (B !== null) { mttrSeries.push(dashed('baseline ' + B.toFixed(1) + ' s', '#6b7280'), dashed('target 0.6 x baseline', '#dc2626')); mttrData.push(fill(t, B), fill(t, B * 0.6)); }
  chart('mttr', { title: 'MTTR over time (seconds)', scales: { x: dayX, y: { range: fromZero } }, axes: [dayAxis, yAxis], series: mttrSeries }, mttrData);
  chart('runs', { title: 'Runs and failures per day', scales: { x: dayX, y: { range: fromZero } }, axes: [dayAxis, yAxis],
    series: [{ label: 'day' }, bar('runs', '#2563eb', 'rgba(37,99,235,0.35)'), bar('failures', '#dc2626', 'rgba(220,38,38,0.6)')] }, [t, D.runs, D.failures]);
  chart('cost', { title: 'Cost per epoch (USD)', scales: { x: epochX, y: { range: fromZero } }, axes: [epochAxis, yAxis],
    series: [{ label: 'epoch' }, bar('cost (USD)', '#d97706', 'rgba(217,119,6,0.35)')] }, [D.epochs, D.epochCostUsd]);
  chart('tokens', { title: 'Tokens per epoch', scales: { x: epochX, y: { range: fromZero } }, axes: [epochAxis, yAxis],
    series: [{ label: 'epoch' }, bar('tokens', '#0891b2', 'rgba(8,145,178,0.35)')] }, [D.epochs, D.epochTokens]);
  chart('missing', { title: 'Missing-field ratio per day', scales: { x: dayX, y: { range: [0, 1] } }, axes: [dayAxis, yAxis],
    series: [{ label: 'day' }, line('missing-field ratio', '#9333ea'), dashed('threshold 0.05', '#dc2626')] }, [t, D.missingRatio, fill(t, 0.05)]);
  document.body.setAttribute('data-rendered', 'yes');
})();
`;

const STYLE = `
body { font: 14px/1.4 system-ui, -apple-system, "Segoe UI", sans-serif; margin: 24px; color: #111827; background: #fff; }
h1 { font-size: 20px; margin: 0 0 4px; } .sub { color: #6b7280; margin: 0 0 16px; }
.cards { display: flex; flex-wrap: wrap; gap: 12px; margin-bottom: 20px; }
.card { border: 1px solid #e5e7eb; border-radius: 8px; padding: 10px 14px; min-width: 200px; background: #f9fafb; }
.card h3 { font-size: 14px; margin: 0 0 6px; } .card h3 small { color: #6b7280; font-weight: normal; }
dl { margin: 0; } .fig { display: flex; justify-content: space-between; gap: 16px; } dt { color: #4b5563; } dd { margin: 0; font-weight: 600; font-variant-numeric: tabular-nums; }
.chart { margin: 8px 0 24px; } .empty { color: #6b7280; padding: 12px; border: 1px dashed #d1d5db; }
`;

export function renderPage(input: PageInput): string {
  const { js, css } = uplotAssets();
  const baseline = input.outputs.mttrDelta?.['baseline_mttr_seconds'];
  const data = { series: input.series, mttrBaseline: typeof baseline === 'number' ? baseline : null };
  const charts = ['completion-daily', 'completion-epoch', 'mttr', 'runs', 'cost', 'tokens', 'missing'];
  const undated = input.series.undated > 0 ? ` ${input.series.undated} runs without a recorded_at that parses are in the numbers but in no day.` : '';
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>codex-metrics report</title>
<style>${css}</style>
<style>${STYLE}</style>
</head>
<body>
<h1>codex-metrics report</h1>
<p class="sub">${esc(input.root)} · written ${esc(input.generatedAt)} · days are UTC days of recorded_at.${esc(undated)}</p>
<div class="cards">
${headline(input.outputs)}
</div>
${charts.map((id) => `<div class="chart" id="${id}"></div>`).join('\n')}
<script>${js}</script>
<script>var DATA = ${scriptJson(data)};</script>
<script>${CHARTS}</script>
</body>
</html>
`;
}
