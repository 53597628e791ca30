/**
 * The bench's output: a table per scenario case with absolute figures and Herald ÷ peer ratios,
 * the targets of the benchmark issue checked against them, a JSON file for machines and SVG
 * charts of throughput and latency.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Metrics, ScenarioCase, ScenarioId } from './scenarios/types.js';

/** One peer's outcome in one case. */
export interface PeerOutcome {
  peer: string;
  metrics?: Metrics;
  error?: string;
}

/** One case (scenario at one size) with every peer's outcome. */
export interface CaseResult {
  case: ScenarioCase;
  title: string;
  results: PeerOutcome[];
}

/** A target of the benchmark issue, checked. */
export interface TargetCheck {
  target: string;
  case: string;
  value: string;
  pass: boolean;
}

/** Everything a run produced; written as `latest.json`. */
export interface BenchReport {
  schema: 1;
  startedAt: string;
  durationSeconds: number;
  quick: boolean;
  command: string;
  machine: {
    cpus: number;
    cpuModel: string;
    memoryGiB: number;
    node: string;
    kernel: string;
    loadAverageStart: number[];
    loadAverageEnd: number[];
    openFileLimit: number;
    generatorWorkers: number;
    sourceAddresses: string[];
  };
  peers: Array<{ name: string; description: string; herald: boolean }>;
  skipped: Array<{ peer: string; reason: string }>;
  cases: CaseResult[];
  targets: TargetCheck[];
  notes: string[];
}

type Better = 'higher' | 'lower';

interface TableSpec {
  columns: Array<{ metric: string; header: string }>;
  /** The figures ratios are given for. */
  ratios: Array<{ metric: string; header: string; better: Better }>;
}

const CPU = [
  { metric: 'serverCpuPercent', header: 'server CPU%' },
  { metric: 'generatorCpuPercent', header: 'gen CPU%' },
];

const TABLES: Record<ScenarioId, TableSpec> = {
  S1: {
    columns: [
      { metric: 'deliveredPerSecond', header: 'delivered ev/s' },
      { metric: 'publishesPerSecond', header: 'publishes/s' },
      { metric: 'lost', header: 'lost' },
      { metric: 'drainSeconds', header: 'drain s' },
      { metric: 'latencyP99Ms', header: 'p99 ms' },
      ...CPU,
      { metric: 'serverCpuMicrosPerEvent', header: 'srv µs/ev' },
      { metric: 'serverRssMiB', header: 'RSS MiB' },
    ],
    ratios: [{ metric: 'deliveredPerSecond', header: 'ev/s', better: 'higher' }],
  },
  S2: {
    columns: [
      { metric: 'p50Ms', header: 'p50 ms' },
      { metric: 'p99Ms', header: 'p99 ms' },
      { metric: 'p999Ms', header: 'p99.9 ms' },
      { metric: 'maxMs', header: 'max ms' },
      { metric: 'lost', header: 'lost' },
      ...CPU,
    ],
    ratios: [
      { metric: 'p99Ms', header: 'p99', better: 'lower' },
      { metric: 'p999Ms', header: 'p99.9', better: 'lower' },
    ],
  },
  S3: {
    columns: [
      { metric: 'kibPerConnection', header: 'KiB/conn' },
      { metric: 'rssBeforeMiB', header: 'RSS before MiB' },
      { metric: 'rssAfterMiB', header: 'RSS after MiB' },
      { metric: 'connectsPerSecond', header: 'connects/s' },
      ...CPU,
    ],
    ratios: [{ metric: 'kibPerConnection', header: 'KiB/conn', better: 'lower' }],
  },
  S4: {
    columns: [
      { metric: 'subscriptionsPerSecond', header: 'subs/s' },
      { metric: 'connectP50Ms', header: 'p50 ms' },
      { metric: 'connectP99Ms', header: 'p99 ms' },
      { metric: 'replayedEvents', header: 'replayed' },
      ...CPU,
      { metric: 'serverCpuMicrosPerSubscription', header: 'srv µs/sub' },
    ],
    ratios: [{ metric: 'subscriptionsPerSecond', header: 'subs/s', better: 'higher' }],
  },
};

function format(value: number | undefined): string {
  if (value === undefined || Number.isNaN(value)) return '–';
  if (Math.abs(value) >= 1000) return Math.round(value).toLocaleString('en-US');
  if (Number.isInteger(value)) return String(value);
  return value.toFixed(Math.abs(value) >= 100 ? 0 : Math.abs(value) >= 10 ? 1 : 2);
}

/** `a ÷ b` as `1.23×`, or `–`. */
function ratio(a: number | undefined, b: number | undefined): string {
  if (a === undefined || b === undefined || b === 0) return '–';
  return `${(a / b).toFixed(2)}×`;
}

/** A plain-text table, first column left-aligned. */
export function textTable(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]): string =>
    cells
      .map((cell, i) => (i === 0 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!)))
      .join('  ')
      .trimEnd();
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}

/** A Markdown table (for docs/benchmarks.md), first column left-aligned. */
export function markdownTable(header: string[], rows: string[][]): string {
  const line = (cells: string[]): string =>
    `| ${cells.map((c) => c.replaceAll('|', '\\|')).join(' | ')} |`;
  const rule = header.map((_, i) => (i === 0 ? '---' : '---:'));
  return [line(header), line(rule), ...rows.map(line)].join('\n');
}

/** Header and rows of one case: peers down, figures and Herald ÷ peer ratios across. */
export function caseRows(
  result: CaseResult,
  heraldPeers: readonly string[],
): { header: string[]; rows: string[][] } {
  const spec = TABLES[result.case.id];
  const herald = heraldPeers.filter((h) => result.results.some((r) => r.peer === h && r.metrics));
  const header = ['peer', ...spec.columns.map((c) => c.header)];
  for (const h of herald) {
    for (const r of spec.ratios) header.push(`${short(h)} ÷ peer (${r.header})`);
  }
  const rows = result.results.map((outcome) => {
    if (outcome.metrics === undefined) {
      return [outcome.peer, `failed: ${(outcome.error ?? '').split('\n')[0]?.slice(0, 100)}`];
    }
    const m = outcome.metrics;
    const row = [outcome.peer, ...spec.columns.map((c) => format(m[c.metric]))];
    for (const h of herald) {
      const hm = result.results.find((r) => r.peer === h)?.metrics;
      for (const r of spec.ratios) {
        row.push(outcome.peer === h ? '1.00×' : ratio(hm?.[r.metric], m[r.metric]));
      }
    }
    return row;
  });
  return { header, rows };
}

function short(peer: string): string {
  return peer.replace(/^herald-/, '');
}

/** The console text of one case. */
export function formatCase(result: CaseResult, heraldPeers: readonly string[]): string {
  const spec = TABLES[result.case.id];
  const { header, rows } = caseRows(result, heraldPeers);
  const direction = spec.ratios
    .map(
      (r) =>
        `${r.header}: ${r.better} is better, so a ratio ${r.better === 'higher' ? '> 1' : '< 1'} favours Herald`,
    )
    .join('; ');
  return `\n${result.title}\n${textTable(header, rows)}\n(${direction})\n`;
}

/** The targets, checked against the cases that ran (Herald = herald-serve). */
export function checkTargets(cases: readonly CaseResult[]): TargetCheck[] {
  const checks: TargetCheck[] = [];
  const get = (c: CaseResult, peer: string): Metrics | undefined =>
    c.results.find((r) => r.peer === peer)?.metrics;
  for (const c of cases) {
    const herald = get(c, 'herald-serve');
    if (herald === undefined) continue;
    const label = `${c.case.id} ${c.case.connections}`;
    const nchan = get(c, 'nchan');
    const betterSse = get(c, 'better-sse');
    const x = (a: number, b: number): string => `${(a / b).toFixed(2)}×`;
    if (c.case.id === 'S1') {
      if (nchan) {
        const r = herald.deliveredPerSecond! / nchan.deliveredPerSecond!;
        checks.push({
          target: 'S1 delivered ≥ 1.0× nchan',
          case: label,
          value: x(herald.deliveredPerSecond!, nchan.deliveredPerSecond!),
          pass: r >= 1,
        });
      }
      if (betterSse) {
        const r = herald.deliveredPerSecond! / betterSse.deliveredPerSecond!;
        checks.push({
          target: 'S1 delivered ≥ 3× better-sse',
          case: label,
          value: x(herald.deliveredPerSecond!, betterSse.deliveredPerSecond!),
          pass: r >= 3,
        });
      }
      checks.push({
        target: 'S1 lost = 0',
        case: label,
        value: String(herald.lost),
        pass: herald.lost === 0,
      });
    }
    if (c.case.id === 'S2' && nchan) {
      for (const p of ['p99Ms', 'p999Ms'] as const) {
        checks.push({
          target: `S2 ${p.replace('Ms', '').replace('p999', 'p99.9')} ≤ nchan`,
          case: label,
          value: `${herald[p]} ms vs ${nchan[p]} ms`,
          pass: herald[p]! <= nchan[p]!,
        });
      }
    }
    if (c.case.id === 'S3') {
      checks.push({
        target: 'S3 ≤ 8 KB RSS per idle connection',
        case: label,
        value: `${herald.kibPerConnection} KiB`,
        pass: herald.kibPerConnection! <= 8,
      });
    }
    if (c.case.id === 'S4') {
      checks.push({
        target: 'S4 ≥ 5k subscriptions/s',
        case: label,
        value: format(herald.subscriptionsPerSecond),
        pass: herald.subscriptionsPerSecond! >= 5000,
      });
    }
  }
  return checks;
}

/** The targets as text. */
export function formatTargets(checks: readonly TargetCheck[]): string {
  if (checks.length === 0) return '';
  const rows = checks.map((c) => [c.target, c.case, c.value, c.pass ? 'met' : 'NOT met']);
  return `\nTargets (herald-serve)\n${textTable(['target', 'case', 'value', ''], rows)}\n`;
}

// ---------------------------------------------------------------------------------------------
// Files

/** Writes `latest.json`, `latest.md` and the SVG charts into `dir`; returns the paths written. */
export function writeResults(dir: string, report: BenchReport): string[] {
  mkdirSync(dir, { recursive: true });
  const written: string[] = [];
  const json = join(dir, 'latest.json');
  writeFileSync(json, `${JSON.stringify(report, null, 2)}\n`);
  written.push(json);
  const markdown = join(dir, 'latest.md');
  writeFileSync(markdown, markdownReport(report));
  written.push(markdown);
  const throughput = throughputChart(report);
  if (throughput !== undefined) {
    const file = join(dir, 'throughput.svg');
    writeFileSync(file, throughput);
    written.push(file);
  }
  const latency = latencyChart(report);
  if (latency !== undefined) {
    const file = join(dir, 'latency.svg');
    writeFileSync(file, latency);
    written.push(file);
  }
  return written;
}

/** The run as Markdown: one table per case and the targets, for docs/benchmarks.md. */
export function markdownReport(report: BenchReport): string {
  const heraldPeers = report.peers.filter((p) => p.herald).map((p) => p.name);
  const m = report.machine;
  const parts = [
    `Run of ${report.startedAt} (\`${report.command}\`), ${report.durationSeconds} s: ${m.cpus} × ${m.cpuModel}, ${m.memoryGiB} GiB, Node ${m.node}, Linux ${m.kernel}; load average ${m.loadAverageStart.join(' ')} at the start, ${m.loadAverageEnd.join(' ')} at the end; ${m.generatorWorkers} generator workers from ${m.sourceAddresses.join(', ')}.`,
  ];
  for (const c of report.cases) {
    const { header, rows } = caseRows(c, heraldPeers);
    parts.push(`**${c.title}**\n\n${markdownTable(header, rows)}`);
  }
  if (report.targets.length > 0) {
    parts.push(
      `**Targets (herald-serve)**\n\n${markdownTable(
        ['target', 'case', 'value', ''],
        report.targets.map((t) => [t.target, t.case, t.value, t.pass ? 'met' : '**not met**']),
      )}`,
    );
  }
  for (const s of report.skipped) parts.push(`Skipped ${s.peer}: ${s.reason}`);
  for (const note of report.notes) parts.push(`Note: ${note}`);
  return `${parts.join('\n\n')}\n`;
}

const COLORS = ['#2563eb', '#f59e0b', '#dc2626'];

interface ChartSection {
  title: string;
  rows: Array<{ label: string; values: number[] }>;
}

function escapeXml(text: string): string {
  return text.replace(/[<>&"]/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** A horizontal bar chart: sections of rows, each row 1–3 bars (series), linear or log scale. */
function barChart(options: {
  title: string;
  unit: string;
  series: string[];
  sections: ChartSection[];
  log: boolean;
}): string {
  const width = 860;
  const left = 150;
  const right = 110;
  const plot = width - left - right;
  const barHeight = 12;
  const gap = 6;
  const all = options.sections.flatMap((s) => s.rows.flatMap((r) => r.values)).filter((v) => v > 0);
  const max = Math.max(...all, 1);
  const min = Math.min(...all, max);
  const lo = options.log ? 10 ** Math.floor(Math.log10(min)) : 0;
  const hi = options.log ? 10 ** Math.ceil(Math.log10(max)) : max;
  const scale = (v: number): number => {
    if (v <= 0) return 0;
    if (!options.log) return (v / hi) * plot;
    return ((Math.log10(v) - Math.log10(lo)) / (Math.log10(hi) - Math.log10(lo))) * plot;
  };
  const parts: string[] = [];
  let y = 50;
  parts.push(
    `<text x="${left}" y="24" font-size="15" font-weight="bold">${escapeXml(options.title)}</text>`,
  );
  options.series.forEach((name, i) => {
    const x = left + i * 120;
    parts.push(`<rect x="${x}" y="32" width="10" height="10" fill="${COLORS[i]}"/>`);
    parts.push(`<text x="${x + 14}" y="41" font-size="11">${escapeXml(name)}</text>`);
  });
  y += 10;
  for (const section of options.sections) {
    y += 16;
    parts.push(
      `<text x="8" y="${y}" font-size="12" font-weight="bold">${escapeXml(section.title)}</text>`,
    );
    y += 8;
    for (const row of section.rows) {
      const rowHeight = row.values.length * (barHeight + 2);
      parts.push(
        `<text x="${left - 8}" y="${y + rowHeight / 2 + 4}" font-size="11" text-anchor="end">${escapeXml(row.label)}</text>`,
      );
      row.values.forEach((v, i) => {
        const w = Math.max(1, scale(v));
        const by = y + i * (barHeight + 2);
        parts.push(
          `<rect x="${left}" y="${by}" width="${w.toFixed(1)}" height="${barHeight}" fill="${COLORS[i]}"/>`,
        );
        parts.push(
          `<text x="${left + w + 4}" y="${by + barHeight - 2}" font-size="10">${escapeXml(format(v))} ${escapeXml(options.unit)}</text>`,
        );
      });
      y += rowHeight + gap;
    }
  }
  y += 10;
  const scaleNote = options.log
    ? `log scale, ${format(lo)}–${format(hi)} ${options.unit}`
    : 'linear scale';
  parts.push(
    `<text x="${left}" y="${y}" font-size="10" fill="#555">${escapeXml(scaleNote)}</text>`,
  );
  const height = y + 12;
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" role="img">\n<title>${escapeXml(options.title)}</title>\n<rect width="100%" height="100%" fill="white"/>\n${parts.join('\n')}\n</svg>\n`;
}

function throughputChart(report: BenchReport): string | undefined {
  const sections = report.cases
    .filter((c) => c.case.id === 'S1')
    .map((c) => ({
      title: `${c.case.connections} subscribers`,
      rows: c.results
        .filter((r) => r.metrics !== undefined)
        .map((r) => ({ label: r.peer, values: [r.metrics!.deliveredPerSecond ?? 0] })),
    }));
  if (sections.length === 0) return undefined;
  return barChart({
    title: 'S1 fan-out: delivered events per second (higher is better)',
    unit: 'ev/s',
    series: ['delivered events/s'],
    sections,
    log: false,
  });
}

function latencyChart(report: BenchReport): string | undefined {
  const sections = report.cases
    .filter((c) => c.case.id === 'S2')
    .map((c) => ({
      title: `${c.case.connections} subscribers, ${c.case.rate} publishes/s`,
      rows: c.results
        .filter((r) => r.metrics !== undefined)
        .map((r) => ({
          label: r.peer,
          values: [r.metrics!.p50Ms ?? 0, r.metrics!.p99Ms ?? 0, r.metrics!.p999Ms ?? 0],
        })),
    }));
  if (sections.length === 0) return undefined;
  return barChart({
    title: 'S2 publish → receive latency (lower is better)',
    unit: 'ms',
    series: ['p50', 'p99', 'p99.9'],
    sections,
    log: true,
  });
}
