/**
 * `npm run bench`: Herald against its peers, end to end, in one run — the same load generator,
 * the same machine, the same scenarios — reported as tables of absolute figures and
 * Herald ÷ peer ratios, `bench/results/latest.json` and SVG charts.
 *
 * Usage: npm run bench -- [--quick] [--scenarios S1,S2,S3,S4,S5] [--peers a,b,…]
 *        [--connections N] [--seconds S] [--workers W] [--addresses A] [--event-bytes 100]
 *        [--inflight 4] [--rate 20] [--out dir] [--herald-cli dist|src] [--no-build]
 *        [--profile]   (Node peers run with --cpu-prof; profiles go to <out>/profiles)
 *
 * --out defaults to bench/results (the committed figures of a full run); with --quick, to
 * bench/results/quick (git-ignored), so a quick run never overwrites the committed figures.
 *
 * Every process is local: the peers listen on 127.0.0.1, the generator workers connect from
 * 127.0.0.1 … 127.0.0.A. Each case starts a fresh server per peer and stops it afterwards.
 *
 * S5 (one hub node against two over a local redis-server: latency added across nodes, delivered
 * events/s) is bench/nodes.ts, run last as its own process; it writes <out>/nodes.json.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { cpus, loadavg, release, totalmem } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { buildBenchEntries } from './build.js';
import { MAX_PER_WORKER, WorkerPool } from './generator/pool.js';
import { heraldServe } from './peers/herald-serve.js';
import { nchan } from './peers/nchan.js';
import { nodePeers } from './peers/node-servers.js';
import type { PeerDefinition } from './peers/types.js';
import {
  type BenchReport,
  type CaseResult,
  checkTargets,
  formatCase,
  formatTargets,
  writeResults,
} from './report.js';
import { plan, SCENARIOS } from './scenarios/index.js';
import type { ScenarioId } from './scenarios/types.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const ALL_SCENARIOS: ScenarioId[] = ['S1', 'S2', 'S3', 'S4'];
/** The multi-node scenario: bench/nodes.ts in its own process (it needs redis-server). */
const S5 = 'S5';
const ALL_PEERS = ['herald-serve', 'herald-embedded', 'better-sse', 'naive', 'nchan'];

const { values } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    scenarios: { type: 'string', default: [...ALL_SCENARIOS, S5].join(',') },
    peers: { type: 'string', default: ALL_PEERS.join(',') },
    connections: { type: 'string' },
    seconds: { type: 'string' },
    workers: { type: 'string' },
    addresses: { type: 'string', default: '4' },
    'event-bytes': { type: 'string', default: '100' },
    inflight: { type: 'string', default: '4' },
    rate: { type: 'string', default: '20' },
    out: { type: 'string' },
    'herald-cli': { type: 'string' },
    'no-build': { type: 'boolean', default: false },
    profile: { type: 'boolean', default: false },
    help: { type: 'boolean', short: 'h', default: false },
  },
});

/**
 * Where results go: `bench/results/` holds the committed figures of a full run; a `--quick`
 * run (small sizes, figures not comparable) goes to `bench/results/quick/`, which git ignores,
 * so that the developer's loop never overwrites the committed ones.
 */
const OUT =
  values.out ?? join(ROOT, 'bench', 'results', ...(values.quick === true ? ['quick'] : []));

if (values.help) {
  const source = readFileSync(fileURLToPath(import.meta.url), 'utf8');
  process.stdout.write(`${/\/\*\*([\s\S]*?)\*\//.exec(source)?.[1]?.replace(/^ \* ?/gm, '')}\n`);
  process.exit(0);
}

function positive(name: string, text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const n = Number(text);
  if (!(n > 0)) {
    process.stderr.write(`bench: --${name} must be a positive number (got ${text})\n`);
    process.exit(2);
  }
  return n;
}

function list<T extends string>(name: string, text: string, allowed: readonly T[]): T[] {
  const items = text
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
  for (const item of items) {
    if (!allowed.includes(item as T)) {
      process.stderr.write(`bench: unknown ${name} "${item}"; choose from ${allowed.join(', ')}\n`);
      process.exit(2);
    }
  }
  return items as T[];
}

/** The soft open-file limit of this process (inherited by the servers and the workers). */
function openFileLimit(): number {
  try {
    const limits = readFileSync('/proc/self/limits', 'utf8');
    const match = /^Max open files\s+(\d+)/m.exec(limits);
    return match === null ? 1024 : Number(match[1]);
  } catch {
    return 1024;
  }
}

/** Newest modification time of the files under `dir`. */
function newestMtime(dir: string): number {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    newest = Math.max(newest, entry.isDirectory() ? newestMtime(path) : statSync(path).mtimeMs);
  }
  return newest;
}

/**
 * How to run `herald serve`: the built dist/cli.js, rebuilt first when missing or older than
 * src/; from src through tsx when the build fails (or on request).
 */
function heraldCli(notes: string[]): string[] {
  const fromSrc = ['--import', 'tsx', join(ROOT, 'src', 'cli.ts')];
  const dist = join(ROOT, 'dist', 'cli.js');
  if (values['herald-cli'] === 'src') return fromSrc;
  const stale = !existsSync(dist) || statSync(dist).mtimeMs < newestMtime(join(ROOT, 'src'));
  if (stale && !values['no-build']) {
    process.stdout.write('bench: dist/ is missing or older than src/; running npm run build…\n');
    const build = spawnSync('npm', ['run', 'build'], { cwd: ROOT, stdio: 'inherit' });
    if (build.status !== 0) {
      notes.push('npm run build failed: herald-serve ran from src/cli.ts through tsx');
      return fromSrc;
    }
  } else if (stale) {
    notes.push('dist/ is older than src/ and --no-build was given: herald-serve ran a stale build');
  }
  if (!existsSync(dist)) {
    notes.push('dist/cli.js is missing: herald-serve ran from src/cli.ts through tsx');
    return fromSrc;
  }
  return [dist];
}

/** Node flags that write a CPU profile per case and peer, with --profile. */
function profileArgs(scenario: string, peer: string): string[] {
  if (!values.profile) return [];
  return [
    '--cpu-prof',
    `--cpu-prof-dir=${join(OUT, 'profiles')}`,
    `--cpu-prof-name=${scenario}-${peer}-${Date.now()}.cpuprofile`,
  ];
}

async function main(): Promise<void> {
  const started = Date.now();
  const loadStart = loadavg();
  const notes: string[] = [];
  const quick = values.quick;
  const chosen = list('scenario', values.scenarios, [...ALL_SCENARIOS, S5]);
  const scenarios = chosen.filter((s): s is ScenarioId => s !== S5);
  const peerNames = list('peer', values.peers, ALL_PEERS);
  const fileLimit = openFileLimit();
  // One server process holds the connections, plus its listening socket, log and publisher.
  const maxConnections = Math.max(100, Math.min(19_000, fileLimit - 1000));
  if (maxConnections < 19_000) {
    notes.push(`open-file limit ${fileLimit}: connections capped at ${maxConnections}`);
  }
  const cases = plan({
    quick,
    scenarios,
    connections: positive('connections', values.connections),
    seconds: positive('seconds', values.seconds),
    eventBytes: Math.max(18, positive('event-bytes', values['event-bytes']) ?? 100),
    inflight: positive('inflight', values.inflight) ?? 4,
    rate: positive('rate', values.rate) ?? 20,
    maxConnections,
  });

  if (cases.length === 0) {
    // S5 alone: its own report (nodes.json); latest.json keeps the last S1–S4 run.
    if (chosen.includes(S5) && !runNodes(quick, notes)) throw new Error(notes.join('; '));
    return;
  }

  const entries = await buildBenchEntries();
  const node = nodePeers(entries.servers);
  const definitions: Record<string, () => PeerDefinition> = {
    'herald-serve': () => heraldServe(heraldCli(notes), ROOT),
    'herald-embedded': () => node.heraldEmbedded,
    'better-sse': () => node.betterSse,
    naive: () => node.naive,
    nchan: () => nchan,
  };
  const peers: PeerDefinition[] = [];
  const skipped: Array<{ peer: string; reason: string }> = [];
  for (const name of peerNames) {
    const peer = definitions[name]!();
    const reason = await peer.check();
    if (reason === undefined) peers.push(peer);
    else {
      skipped.push({ peer: name, reason });
      process.stdout.write(`bench: skipping ${name}: ${reason}\n`);
    }
  }
  const heraldPeers = peers.filter((p) => p.herald).map((p) => p.name);

  const biggest = Math.max(...cases.map((c) => c.connections), 1);
  const workers =
    positive('workers', values.workers) ?? Math.max(2, Math.ceil(biggest / MAX_PER_WORKER));
  const addresses = Array.from(
    { length: positive('addresses', values.addresses) ?? 4 },
    (_, i) => `127.0.0.${i + 1}`,
  );
  process.stdout.write(
    `herald bench${quick ? ' --quick' : ''}: ${cases.length} cases × ${peers.length} peers (${peers.map((p) => p.name).join(', ')}); ` +
      `${workers} generator workers from ${addresses.join(', ')}; node ${process.version}, ${cpus().length} CPUs, load ${loadStart.map((l) => l.toFixed(2)).join(' ')}\n`,
  );
  const pool = await WorkerPool.start(workers, entries.worker, addresses);
  const results: CaseResult[] = [];
  try {
    for (const c of cases) {
      const result: CaseResult = { case: c, title: SCENARIOS[c.id].title(c), results: [] };
      results.push(result);
      for (const definition of peers) {
        const t0 = performance.now();
        process.stdout.write(`  ${c.id} ${c.connections} ${definition.name}… `);
        let instance: Awaited<ReturnType<PeerDefinition['start']>> | undefined;
        try {
          instance = await definition.start({ nodeArgs: profileArgs(c.id, definition.name) });
          const metrics = await SCENARIOS[c.id].run(
            { pool, peer: instance, log: (m) => process.stdout.write(`${m}\n`) },
            c,
          );
          result.results.push({ peer: definition.name, metrics });
          process.stdout.write(`${((performance.now() - t0) / 1000).toFixed(1)} s\n`);
        } catch (error) {
          const message = (error as Error).message;
          result.results.push({ peer: definition.name, error: message });
          process.stdout.write(`failed: ${message}\n`);
        } finally {
          await pool.closeAll().catch(() => undefined);
          await instance?.stop();
        }
      }
      process.stdout.write(formatCase(result, heraldPeers));
    }
  } finally {
    await pool.stop();
  }
  if (chosen.includes(S5)) runNodes(quick, notes);
  const targets = checkTargets(results);
  process.stdout.write(formatTargets(targets));
  const report: BenchReport = {
    schema: 1,
    startedAt: new Date(started).toISOString(),
    durationSeconds: Math.round((Date.now() - started) / 100) / 10,
    quick,
    command:
      process.argv.length > 2
        ? `npm run bench -- ${process.argv.slice(2).join(' ')}`
        : 'npm run bench',
    machine: {
      cpus: cpus().length,
      cpuModel: cpus()[0]?.model ?? 'unknown',
      memoryGiB: Math.round(totalmem() / 2 ** 30),
      node: process.version,
      kernel: release(),
      loadAverageStart: loadStart.map((l) => Math.round(l * 100) / 100),
      loadAverageEnd: loadavg().map((l) => Math.round(l * 100) / 100),
      openFileLimit: fileLimit,
      generatorWorkers: workers,
      sourceAddresses: addresses,
    },
    peers: peers.map((p) => ({ name: p.name, description: p.description, herald: p.herald })),
    skipped,
    cases: results,
    targets,
    notes,
  };
  for (const note of notes) process.stdout.write(`note: ${note}\n`);
  const written = writeResults(OUT, report);
  process.stdout.write(
    `\n${written.join('\n')}\ntotal ${report.durationSeconds} s, load ${report.machine.loadAverageEnd.join(' ')}\n`,
  );
}

/** S5: bench/nodes.ts as a child process, its report printed as it goes. */
function runNodes(quick: boolean, notes: string[]): boolean {
  process.stdout.write('\nS5 two hub nodes over Redis against one (bench/nodes.ts)\n');
  const child = spawnSync(
    process.execPath,
    [
      '--import',
      'tsx',
      join(ROOT, 'bench', 'nodes.ts'),
      ...(quick ? ['--quick'] : []),
      '--out',
      join(OUT, 'nodes.json'),
    ],
    { cwd: ROOT, stdio: 'inherit' },
  );
  if (child.status === 0) return true;
  notes.push(
    `S5 failed (bench/nodes.ts exit ${child.status ?? child.signal}); see its output above`,
  );
  return false;
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    process.stderr.write(`bench: ${(error as Error).stack ?? String(error)}\n`);
    process.exit(1);
  },
);
