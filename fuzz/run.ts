// `npm run fuzz`: runs the fuzz targets long. `npm test` runs the same targets briefly
// (test/unit/fuzz-*.test.ts, test/integration/fuzz-*.test.ts, security-*.test.ts).
//
//   npm run fuzz                               every target, 1000 runs each
//   npm run fuzz -- --runs 20000               more runs each
//   npm run fuzz -- --minutes 30               as many runs as fit, the time shared by the targets
//   npm run fuzz -- --target publish-api       some targets (comma-separated)
//   npm run fuzz -- --target parser --seed 42  replay a failure fast-check reported
//
// Exit code 0 when every property held, 1 otherwise (fast-check's report says how to replay).
import { parseArgs } from 'node:util';
import { runTarget } from './target.js';
import { TARGETS } from './targets/index.js';

const { values } = parseArgs({
  options: {
    runs: { type: 'string' },
    minutes: { type: 'string' },
    target: { type: 'string' },
    seed: { type: 'string' },
    list: { type: 'boolean', default: false },
    help: { type: 'boolean', short: 'h', default: false },
  },
});

if (values.help || values.list) {
  process.stdout.write(
    `Usage: npm run fuzz -- [--runs N | --minutes N] [--target name[,name]] [--seed n]\n\nTargets:\n${TARGETS.map(
      (t) => `  ${t.name.padEnd(16)} ${t.summary}`,
    ).join('\n')}\n`,
  );
  process.exit(0);
}

let targets = TARGETS;
if (values.target !== undefined) {
  const names = values.target.split(',').map((n) => n.trim());
  const unknown = names.filter((n) => !TARGETS.some((t) => t.name === n));
  if (unknown.length > 0) {
    process.stderr.write(
      `fuzz: unknown target ${unknown.join(', ')}; known: ${TARGETS.map((t) => t.name).join(', ')}\n`,
    );
    process.exit(2);
  }
  targets = TARGETS.filter((t) => names.includes(t.name));
}
const minutes = values.minutes === undefined ? undefined : Number(values.minutes);
const runs = values.runs === undefined ? 1000 : Number(values.runs);
if (!(runs > 0) || (minutes !== undefined && !(minutes > 0))) {
  process.stderr.write('fuzz: --runs and --minutes take positive numbers\n');
  process.exit(2);
}
const seed = values.seed === undefined ? undefined : Number(values.seed);

process.stdout.write(
  `Herald fuzz — ${minutes === undefined ? `${runs} runs per target` : `${minutes} min shared by ${targets.length} targets`}${seed === undefined ? '' : `, seed ${seed}`}\n\n`,
);
let failed = 0;
for (const target of targets) {
  const outcome = await runTarget(target, {
    numRuns: minutes === undefined ? runs : Number.MAX_SAFE_INTEGER,
    ...(seed !== undefined && { seed }),
    ...(minutes !== undefined && { timeLimitMs: (minutes * 60_000) / targets.length }),
  });
  const seconds = outcome.ms / 1000;
  const stats = Object.entries(outcome.stats)
    .map(([k, v]) => `${k} ${v}`)
    .join(', ');
  const line = `${outcome.failure === undefined ? 'PASS' : 'FAIL'}  ${target.name.padEnd(16)} ${String(outcome.runs).padStart(7)} runs  ${seconds.toFixed(1).padStart(7)} s  seed ${outcome.seed}  (${stats})`;
  process.stdout.write(`${line}\n`);
  if (outcome.failure !== undefined) {
    failed++;
    process.stdout.write(`${outcome.failure}\n\n`);
  }
}
process.exit(failed === 0 ? 0 : 1);
