import { expect } from 'chai';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeReport } from '../../lib/report/report.js';
import { jsonl, runCli, runEntry } from '../helpers/cli.js';
import { decodePng } from '../helpers/png.js';
import { quietLog, useTmpDir } from '../helpers/tmp.js';

const CHROMIUM = '/usr/bin/chromium';
const HOUR = 3_600_000;

/** Orchestrator-shaped runs spread over ~25 days and three epochs. */
function runs(from: number, n: number): Array<Record<string, unknown>> {
  return Array.from({ length: n }, (_, k) => {
    const i = from + k;
    return runEntry(i, { recorded_at: new Date(Date.UTC(2026, 0, 1) + i * 2 * HOUR).toISOString() });
  });
}

/** Headless Chromium on a file: a fresh profile each time, nothing fetched from the network. */
async function chromium(args: string[]): Promise<string> {
  const profile = await mkdtemp(join(tmpdir(), 'codex-metrics-chromium-'));
  try {
    return await new Promise<string>((resolve, reject) => {
      const child = spawn(CHROMIUM, ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run', `--user-data-dir=${profile}`, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      let err = '';
      child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
      child.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
      child.on('error', reject);
      child.on('close', (code) => (code === 0 ? resolve(out) : reject(new Error(`chromium exited ${code}: ${err.slice(-2000)}`))));
    });
  } finally {
    await rm(profile, { recursive: true, force: true });
  }
}

async function json(path: string): Promise<Record<string, any>> {
  return JSON.parse(await readFile(path, 'utf8')) as Record<string, any>;
}

describe('report', function () {
  this.timeout(120_000);
  const tmp = useTmpDir();

  it('is one self-contained HTML file: every script and style inline, nothing to fetch', async function () {
    expect((await runCli(['record', '--dir', tmp.dir], { input: jsonl(runs(0, 50)) })).code).to.equal(0);
    const r = await runCli(['report', '--json', '--dir', tmp.dir]);
    expect(r.code, r.stderr).to.equal(0);
    const file = join(tmp.dir, 'metrics', 'report.html');
    expect(JSON.parse(r.stdout)).to.deep.equal({ file });
    const html = await readFile(file, 'utf8');
    expect(html).to.match(/^<!doctype html>/);
    expect(html).not.to.match(/<(script|img|iframe)[^>]*\ssrc=/i);
    expect(html).not.to.match(/<link\b/i);
    expect(html).not.to.match(/url\(\s*['"]?(https?:)?\/\//i);
    expect(html).not.to.match(/@import/i);
    expect(html).to.include('uPlot');
    const other = join(tmp.dir, 'elsewhere.html');
    expect((await runCli(['report', '--dir', tmp.dir, '--out', other])).stdout).to.equal(`wrote ${other}\n`);
    expect(existsSync(other)).to.equal(true);
  });

  it('renders in headless Chromium: a screenshot that is not blank, and the numbers of the six outputs', async function () {
    if (!existsSync(CHROMIUM)) this.skip();
    const input = runs(0, 300).map((e, i) => ({ ...e, ...(i % 10 === 0 ? { learning_validation_status: 'validated', learning_alerts: 1 } : {}) }));
    expect((await runCli(['record', '--dir', tmp.dir], { input: jsonl(input), env: { CODEX_METRICS_MAX_LINES: '64', CODEX_METRICS_COMPRESS: 'gzip' } })).code).to.equal(0);
    const r = await runCli(['aggregate', '--report', '--dir', tmp.dir]);
    expect(r.code, r.stderr).to.equal(0);
    const file = join(tmp.dir, 'metrics', 'report.html');

    const shot = join(tmp.dir, 'shot.png');
    await chromium(['--window-size=1200,2600', '--virtual-time-budget=10000', `--screenshot=${shot}`, `file://${file}`]);
    const png = decodePng(await readFile(shot));
    expect([png.width, png.height]).to.deep.equal([1200, 2600]);
    const colors = new Set<number>();
    let inked = 0;
    for (let p = 0; p < png.pixels.length; p += png.channels) {
      const [red, green, blue] = [png.pixels[p]!, png.pixels[p + 1]!, png.pixels[p + 2]!];
      colors.add((red << 16) | (green << 8) | blue);
      if (red + green + blue < 600) inked++;
    }
    expect(colors.size, 'distinct colours').to.be.greaterThan(50);
    expect(inked / (png.width * png.height), 'share of pixels that are not near white').to.be.greaterThan(0.03);

    const dom = await chromium(['--virtual-time-budget=10000', '--dump-dom', `file://${file}`]);
    expect(dom).to.match(/<body[^>]*data-rendered="yes"/);
    expect((dom.match(/<canvas/g) ?? []).length, 'one canvas per chart').to.equal(7);

    const m = join(tmp.dir, 'metrics');
    const outputs: Record<string, Record<string, any>> = {
      'post-rollout.json': await json(join(m, 'post-rollout.json')),
      'mttr-delta.json': await json(join(m, 'mttr-delta.json')),
      'completeness.json': await json(join(m, 'completeness.json')),
      'baseline.json': await json(join(m, 'baseline.json')),
      'per-epoch.json': await json(join(m, 'per-epoch.json')),
      'state.json': await json(join(tmp.dir, 'state.json')),
    };
    const decode = (s: string) => s.replace(/&#(\d+);/g, (_, n: string) => String.fromCharCode(Number(n))).replace(/&quot;/g, '"').replace(/&amp;/g, '&');
    const figures = [...dom.matchAll(/<dd data-output="([^"]+)" data-field="([^"]+)" data-value="([^"]*)">([^<]*)<\/dd>/g)].map((x) => ({ output: x[1]!, field: x[2]!, value: JSON.parse(decode(x[3]!)) as unknown, text: decode(x[4]!) }));
    expect(new Set(figures.map((f) => f.output))).to.deep.equal(new Set(Object.keys(outputs)));
    const epochs = outputs['per-epoch.json']!['epochs'] as Array<Record<string, number>>;
    for (const f of figures) {
      const want = f.field === 'epochs.length' ? epochs.length
        : f.field.startsWith('sum(') ? Math.round(epochs.reduce((a, e) => a + e[f.field.slice(4, -1)]!, 0) * 1e6) / 1e6
        : f.field.split('.').reduce<any>((o, k) => o?.[k], outputs[f.output]);
      expect(f.value, `${f.output} ${f.field}`).to.deep.equal(want);
    }
    const rate = outputs['post-rollout.json']!['completion_rate'] as number;
    expect(figures.find((f) => f.field === 'completion_rate')!.text).to.equal(`${(rate * 100).toFixed(2)}%`);
    expect(figures.find((f) => f.field === 'total_runs')!.text).to.equal('300');

    // The charts' data: per-day runs add up to the outputs' totals, epochs match per-epoch.json.
    const data = JSON.parse(/var DATA = (\{.*?\});<\/script>/s.exec(dom)![1]!) as { series: Record<string, number[]>; mttrBaseline: number };
    const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);
    expect(sum(data.series['runs']!)).to.equal(300);
    expect(sum(data.series['runs']!) - sum(data.series['failures']!)).to.equal(outputs['post-rollout.json']!['succeeded_runs']);
    expect(data.series['epochs']).to.deep.equal(epochs.map((e) => e['epoch']));
    expect(data.series['epochCostUsd']).to.deep.equal(epochs.map((e) => e['cost_usd']));
    expect(data.series['epochTokens']).to.deep.equal(epochs.map((e) => e['token_total']));
    expect(data.mttrBaseline).to.equal(outputs['mttr-delta.json']!['baseline_mttr_seconds']);
    expect(data.series['days']).to.have.length(25);
  });

  it('is fed incrementally: the next report reads only the entries appended since', async function () {
    expect((await runCli(['record', '--dir', tmp.dir], { input: jsonl(runs(0, 40)), env: { CODEX_METRICS_MAX_LINES: '16' } })).code).to.equal(0);
    const first = await writeReport({ dir: tmp.dir, log: quietLog });
    expect(first.pass.linesRead).to.equal(40);
    expect((await runCli(['record', '--dir', tmp.dir], { input: jsonl(runs(40, 3)), env: { CODEX_METRICS_MAX_LINES: '16' } })).code).to.equal(0);
    const next = await writeReport({ dir: tmp.dir, log: quietLog });
    expect([next.pass.mode, next.pass.linesRead, next.pass.totalRuns]).to.deep.equal(['incremental', 3, 43]);
    const html = await readFile(next.file, 'utf8');
    const data = JSON.parse(/var DATA = (\{.*?\});<\/script>/s.exec(html)![1]!) as { series: { runs: number[] } };
    expect(data.series.runs.reduce((a, b) => a + b, 0)).to.equal(43);
  });

  it('keeps its series through retention: segments deleted after a report stay in the next one', async function () {
    const env = { CODEX_METRICS_MAX_LINES: '10' };
    expect((await runCli(['record', '--dir', tmp.dir], { input: jsonl(runs(0, 60)), env })).code).to.equal(0);
    expect((await runCli(['report', '--dir', tmp.dir])).code).to.equal(0);
    expect((await runCli(['record', '--dir', tmp.dir], { input: jsonl(runs(60, 20)), env })).code).to.equal(0);
    const r = await runCli(['retention', '--max-segments', '1', '--dir', tmp.dir]);
    expect(r.code, r.stderr).to.equal(0);
    const rebuilt = await writeReport({ dir: tmp.dir, log: quietLog, aggregated: false });
    const series = (await import('../../lib/report/reducer.js')).seriesOf(rebuilt.pass.state as never);
    expect(series.runs.reduce((a, b) => a + b, 0)).to.equal(80);
  });
});
