// `npm run chaos`: runs the chaos scenarios against real hub processes and prints, per scenario,
// its report (per-subscriber accounting, latencies, memory) and PASS/FAIL for each criterion.
//
//   npm run chaos                        every scenario, full size
//   npm run chaos -- --quick             smaller counts, about a minute in all
//   npm run chaos -- --scenario drops    one scenario (comma-separated for several)
//   npm run chaos -- --seed 42           replay a run's random choices
//   npm run chaos -- --list              the scenarios
//
// Exit code 0 when every criterion of every scenario holds, 1 otherwise.
import { parseArgs } from 'node:util';
import { findBinary } from '../test/helpers/binary.js';
import { spawnHub } from './lib/hub.js';
import type { Scenario, Size } from './scenario.js';
import { SCENARIOS } from './scenarios/index.js';

const { values } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    scenario: { type: 'string' },
    seed: { type: 'string' },
    list: { type: 'boolean', default: false },
    help: { type: 'boolean', short: 'h', default: false },
  },
});

if (values.help || values.list) {
  process.stdout.write(
    `Usage: npm run chaos -- [--quick] [--scenario name[,name]] [--seed n]\n\nScenarios:\n${SCENARIOS.map(
      (s) => `  ${s.name.padEnd(16)} ${s.summary}`,
    ).join('\n')}\n`,
  );
  process.exit(0);
}

const size: Size = values.quick ? 'quick' : 'full';
const seed = values.seed === undefined ? Math.floor(Math.random() * 2 ** 31) : Number(values.seed);
let chosen: Scenario[] = SCENARIOS;
if (values.scenario !== undefined) {
  const names = values.scenario.split(',').map((n) => n.trim());
  const unknown = names.filter((n) => !SCENARIOS.some((s) => s.name === n));
  if (unknown.length > 0) {
    process.stderr.write(
      `chaos: unknown scenario ${unknown.join(', ')}; known: ${SCENARIOS.map((s) => s.name).join(', ')}\n`,
    );
    process.exit(2);
  }
  chosen = SCENARIOS.filter((s) => names.includes(s.name));
}

process.stdout.write(
  `Herald chaos — ${size} run, seed ${seed} (replay with --seed ${seed}${size === 'quick' ? ' --quick' : ''})\n` +
    `node ${process.version}, ${process.platform}/${process.arch}\n`,
);

let failed = 0;
const summary: string[][] = [];
for (const scenario of chosen) {
  process.stdout.write(`\n== ${scenario.name}: ${scenario.summary}\n`);
  const missing = (scenario.needs ?? []).filter((binary) => findBinary(binary) === undefined);
  if (missing.length > 0) {
    const reason = `needs ${missing.join(', ')}, not installed`;
    process.stdout.write(`SKIP: ${reason}\n`);
    if (process.env.CI === 'true') failed++;
    summary.push([scenario.name, process.env.CI === 'true' ? 'FAIL' : 'SKIP', reason]);
    continue;
  }
  const t0 = Date.now();
  try {
    const result = await scenario.run({
      size,
      seed,
      startHub: spawnHub,
      log: (line) => process.stderr.write(`  … ${line}\n`),
    });
    process.stdout.write(`${result.report}\n\n`);
    for (const c of result.checks) {
      process.stdout.write(`${c.ok ? 'PASS' : 'FAIL'}  ${c.name}: ${c.detail}\n`);
    }
    const ok = result.checks.every((c) => c.ok);
    if (!ok) failed++;
    summary.push([
      scenario.name,
      ok ? 'PASS' : 'FAIL',
      `${((Date.now() - t0) / 1000).toFixed(0)} s`,
    ]);
  } catch (error) {
    failed++;
    process.stdout.write(`FAIL  the scenario crashed: ${(error as Error).stack ?? error}\n`);
    summary.push([scenario.name, 'FAIL', 'crashed']);
  }
}

process.stdout.write(`\n== summary (seed ${seed})\n`);
for (const [name, verdict, detail] of summary) {
  process.stdout.write(`${verdict!.padEnd(5)} ${name!.padEnd(16)} ${detail}\n`);
}
process.exit(failed === 0 ? 0 : 1);
