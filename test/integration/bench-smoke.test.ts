import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { BenchReport } from '../../bench/report.js';

// `npm run bench` end to end with tiny numbers: Herald (embedded) and the naive Express peer,
// every scenario, a real generator worker pool. Only the shape of the report and the absence
// of losses are checked — figures from a shared CI machine mean nothing, so nothing is timed.

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const out = mkdtempSync(join(tmpdir(), 'herald-bench-smoke-'));
after(() => rmSync(out, { recursive: true, force: true }));

async function runBench(args: string[]): Promise<{ code: number | null; output: string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'bench/run.ts', ...args], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    output += chunk;
  });
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
    output += chunk;
  });
  const [code] = (await once(child, 'exit')) as [number | null];
  return { code, output };
}

describe('npm run bench (smoke, tiny numbers)', () => {
  it('runs S1–S4 against herald-embedded and naive, and reports every figure with no loss', async () => {
    const { code, output } = await runBench([
      '--scenarios',
      'S1,S2,S3,S4',
      '--peers',
      'herald-embedded,naive',
      '--connections',
      '20',
      '--seconds',
      '0.5',
      '--out',
      out,
    ]);
    assert.equal(code, 0, output);
    assert.match(output, /S1 fan-out: 20 subscribers/);
    assert.match(output, /embedded ÷ peer/);

    const report = JSON.parse(readFileSync(join(out, 'latest.json'), 'utf8')) as BenchReport;
    assert.equal(report.schema, 1);
    assert.deepEqual(
      report.peers.map((p) => p.name),
      ['herald-embedded', 'naive'],
    );
    assert.deepEqual(
      report.cases.map((c) => c.case.id),
      ['S1', 'S2', 'S3', 'S4'],
    );
    const expected: Record<string, string[]> = {
      S1: ['deliveredPerSecond', 'publishesPerSecond', 'lost', 'serverCpuPercent'],
      S2: ['p50Ms', 'p99Ms', 'p999Ms', 'lost', 'samples', 'generatorCpuPercent'],
      S3: ['kibPerConnection', 'rssBeforeMiB', 'rssAfterMiB', 'open'],
      S4: ['subscriptionsPerSecond', 'replayedEvents', 'connectP99Ms'],
    };
    for (const c of report.cases) {
      assert.equal(c.case.connections, 20);
      assert.equal(c.results.length, 2);
      for (const result of c.results) {
        const where = `${c.case.id} ${result.peer}`;
        assert.equal(result.error, undefined, `${where}: ${result.error}`);
        const metrics = result.metrics;
        assert.ok(metrics !== undefined, where);
        for (const key of expected[c.case.id] ?? []) {
          assert.equal(typeof metrics[key], 'number', `${where}: ${key}`);
          assert.ok(Number.isFinite(metrics[key]), `${where}: ${key} = ${metrics[key]}`);
        }
        if (c.case.id === 'S1' || c.case.id === 'S2') {
          assert.equal(metrics.lost, 0, `${where}: events lost`);
          assert.equal(metrics.dropped, 0, `${where}: streams dropped`);
          assert.ok((metrics.published ?? 0) > 0, `${where}: nothing published`);
        }
        if (c.case.id === 'S2') {
          // Every subscriber reads every stamp: one latency sample per delivered event (a stamp
          // split across two reads is skipped, hence not exactly equal).
          const delivered = (metrics.published ?? 0) * 20;
          assert.ok(metrics.samples! <= delivered && metrics.samples! >= delivered * 0.9, where);
        }
        if (c.case.id === 'S3') assert.equal(metrics.open, 20, where);
        if (c.case.id === 'S4') assert.equal(metrics.replayedEvents, 20 * 10, where);
      }
    }
    assert.ok(report.machine.cpus > 0);
    assert.match(readFileSync(join(out, 'throughput.svg'), 'utf8'), /^<svg /);
    assert.match(readFileSync(join(out, 'latency.svg'), 'utf8'), /^<svg /);
  });

  it('--quick without --out writes to bench/results/quick/, never over the committed figures', async () => {
    const committed = join(ROOT, 'bench', 'results', 'latest.json');
    const before = readFileSync(committed, 'utf8');
    const { code, output } = await runBench([
      '--quick',
      '--scenarios',
      'S1',
      '--peers',
      'herald-embedded',
      '--connections',
      '10',
      '--seconds',
      '0.5',
      '--no-build',
    ]);
    assert.equal(code, 0, output);
    const quick = join(ROOT, 'bench', 'results', 'quick', 'latest.json');
    assert.ok(output.includes(quick), `the run says where it wrote: ${output}`);
    const report = JSON.parse(readFileSync(quick, 'utf8')) as BenchReport;
    assert.equal(report.quick, true);
    assert.equal(readFileSync(committed, 'utf8'), before, 'bench/results/latest.json untouched');
  });
});
