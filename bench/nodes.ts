// One hub node against two, over one local redis-server: what a second node costs in latency
// (an event published on node A reaching subscribers on node B, against subscribers on A) and
// what it buys in delivered events per second.
//
// Every node is a real `herald serve` process (spawned from the sources through tsx); the
// publisher and the subscribers are in this process, so one clock times an event from the
// publish request to its arrival. Each round of a configuration starts its nodes and runs:
//   latency:    events published on A at a fixed rate, each with its send time as data;
//               subscribers split across A and B (all on A with one node);
//   throughput: concurrent publishers on A (JSON batches) as fast as it answers; events
//               delivered to all subscribers per second, and a check that every subscriber
//               got every event.
// Configurations take turns round after round, so that other work on the machine weighs on
// each alike. Without --quick, one node on the memory engine is a baseline (what the Redis
// round trip costs). Bounded in time; prints a table and writes bench/results/nodes.json.
//
// Usage: npm run bench -- --scenarios S5 [--quick]  (S5 of npm run bench), or directly:
//        node --import tsx bench/nodes.ts [--quick] [--rounds 3] [--subscribers 200]
//          [--rate 100] [--latency-seconds 6] [--throughput-seconds 4] [--publishers 8]
//          [--batch 10] [--out bench/results/nodes.json]
import { execFileSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { cpus, loadavg } from 'node:os';
import { dirname, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { build, type Histogram } from 'hdr-histogram-js';
import { createParser } from '../src/protocol/index.js';
import { type HubNode, killAllHubNodes, startHubNode } from '../test/helpers/hub-node.js';
import { formOf, makeToken } from '../test/helpers/hub-server.js';
import { startRedis, type TestRedis } from '../test/helpers/redis-server.js';

const { values } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    subscribers: { type: 'string' },
    rate: { type: 'string' },
    'latency-seconds': { type: 'string' },
    'throughput-seconds': { type: 'string' },
    publishers: { type: 'string' },
    batch: { type: 'string' },
    rounds: { type: 'string' },
    out: { type: 'string' },
  },
});
const quick = values.quick === true;
const SUBSCRIBERS = Number(values.subscribers ?? (quick ? 100 : 200));
const RATE = Number(values.rate ?? 100);
const LATENCY_S = Number(values['latency-seconds'] ?? (quick ? 4 : 6));
const THROUGHPUT_S = Number(values['throughput-seconds'] ?? (quick ? 3 : 4));
const ROUNDS = Number(values.rounds ?? (quick ? 1 : 3));
const PUBLISHERS = Number(values.publishers ?? 8);
const BATCH = Number(values.batch ?? 10);
/** The data of throughput events (latency events carry their send time instead). */
const PAYLOAD = 'x'.repeat(64);
const WARMUP_S = 1;
const TOPIC = '/bench/nodes';
const FLAGS = [
  '--anonymous',
  '--heartbeat',
  '0',
  '--max-connections-per-ip',
  '0',
  '--history-size',
  '10000',
];

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

function histogram(): Histogram {
  return build({
    lowestDiscernibleValue: 1,
    highestTrackableValue: 600_000_000,
    numberOfSignificantValueDigits: 3,
  });
}

/** Milliseconds, from a histogram of microseconds. */
interface Latency {
  events: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
}

function latencyOf(h: Histogram): Latency {
  const ms = (us: number): number => Math.round(us / 10) / 100;
  return {
    events: h.totalCount,
    p50: ms(h.getValueAtPercentile(50)),
    p90: ms(h.getValueAtPercentile(90)),
    p99: ms(h.getValueAtPercentile(99)),
    max: ms(h.maxValue),
  };
}

/**
 * One subscriber connection: counts event terminators (blank lines) always, parses events
 * (for their timestamps) only while `timing` is on.
 */
class Subscriber {
  events = 0;
  timing = true;
  closed = false;
  #lastWasLf = false;
  readonly #latency: Histogram;
  readonly #parser = createParser({
    onEvent: (event) => {
      if (!this.recording) return;
      const sent = Number(event.data);
      if (Number.isFinite(sent)) {
        this.#latency.recordValue(Math.max(1, Math.round((performance.now() - sent) * 1000)));
      }
    },
  });
  recording = false;

  constructor(latency: Histogram) {
    this.#latency = latency;
  }

  feed(chunk: Buffer): void {
    let prev = this.#lastWasLf;
    for (let i = chunk.indexOf(10); i !== -1; i = chunk.indexOf(10, i + 1)) {
      if ((i === 0 && prev) || (i > 0 && chunk[i - 1] === 10)) this.events++;
      prev = false;
    }
    this.#lastWasLf = chunk[chunk.length - 1] === 10;
    if (this.timing) this.#parser.feed(chunk);
  }
}

/** Opens `count` subscriber streams on `node`, resolving once every response has started. */
async function subscribe(node: HubNode, count: number, latency: Histogram): Promise<Subscriber[]> {
  const url = new URL(`${node.url}/.well-known/mercure`);
  url.searchParams.set('topic', TOPIC);
  const subs: Subscriber[] = [];
  await Promise.all(
    Array.from(
      { length: count },
      () =>
        new Promise<void>((resolve, reject) => {
          const sub = new Subscriber(latency);
          subs.push(sub);
          const req = request(url, { agent: false }, (res) => {
            if (res.statusCode !== 200) {
              reject(new Error(`subscribe on ${node.name} answered ${res.statusCode}`));
              return;
            }
            res.on('data', (chunk: Buffer) => sub.feed(chunk));
            res.on('close', () => {
              sub.closed = true;
            });
            resolve();
          });
          req.on('error', reject);
          req.end();
        }),
    ),
  );
  return subs;
}

/** One publish of `data` to `node`; resolves with whether it was accepted. */
async function publishOne(node: HubNode, token: string, data: string): Promise<boolean> {
  const res = await fetch(`${node.url}/.well-known/mercure`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}` },
    body: formOf({ topic: TOPIC, data }),
  });
  await res.arrayBuffer();
  return res.status === 200;
}

/** Publishes `count` events in one JSON request (`POST /publish`); resolves with how many were accepted. */
async function publishBatch(node: HubNode, token: string, count: number): Promise<number> {
  const res = await fetch(`${node.url}/publish`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify(Array.from({ length: count }, () => ({ topic: TOPIC, data: PAYLOAD }))),
  });
  await res.arrayBuffer();
  return res.status === 200 ? count : 0;
}

/** The pid of the redis-server listening on `port` (its title says so), from /proc. */
function redisPid(port: number): number | undefined {
  try {
    for (const entry of readdirSync('/proc')) {
      if (!/^\d+$/.test(entry)) continue;
      const cmd = readFileSync(`/proc/${entry}/cmdline`, 'utf8').replaceAll('\0', ' ');
      if (cmd.startsWith('redis-server') && cmd.includes(`:${port}`)) return Number(entry);
    }
  } catch {
    // not Linux: no figure
  }
  return undefined;
}

/** CPU seconds (user + system) a process has used, from /proc (Linux); NaN elsewhere. */
function cpuSeconds(pid: number): number {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100; // utime + stime, in clock ticks
  } catch {
    return Number.NaN;
  }
}

/**
 * Waits until every subscriber counted `target` events since `base` (its counts then), or `ms`
 * passed; returns the deliveries still missing.
 */
async function drain(
  subs: readonly Subscriber[],
  base: readonly number[],
  target: number,
  ms: number,
): Promise<number> {
  const deadline = performance.now() + ms;
  for (;;) {
    const missing = subs.reduce(
      (sum, s, i) => sum + Math.max(0, target - (s.events - base[i]!)),
      0,
    );
    if (missing === 0 || performance.now() > deadline) return missing;
    await sleep(20);
  }
}

/** What one round of one configuration measured. */
interface Round {
  subscribers: Record<string, number>;
  /** Latency histograms (µs) by the node the subscribers were on. */
  latency: Map<string, Histogram>;
  /** Throughput window: accepted publishes, deliveries counted by the subscribers, seconds. */
  published: number;
  delivered: number;
  seconds: number;
  refused: number;
  lost: number;
  disconnected: number;
  /** CPU seconds used during the throughput phase, by process, and that phase's wall time. */
  cpu: Record<string, number>;
  wall: number;
}

/** One configuration, all rounds together. */
interface RunResult {
  nodes: number;
  rounds: number;
  subscribers: Record<string, number>;
  latency: Record<string, Latency>;
  throughput: {
    publishers: number;
    batch: number;
    seconds: number;
    publishedPerSecond: number;
    deliveredPerSecond: number;
    refused: number;
    lost: number;
    disconnected: number;
    /** Average CPU during the throughput phases, % of one core. */
    cpuPercent: Record<string, number>;
  };
}

/**
 * One round: starts `count` nodes on `engine`, runs both phases (publishing on the first node,
 * subscribers split evenly), stops the nodes.
 */
async function round(
  engine: string,
  count: number,
  token: string,
  redisPort: number | undefined,
): Promise<Round> {
  const nodes = await Promise.all(
    Array.from({ length: count }, (_, i) =>
      startHubNode({ engine, flags: FLAGS, name: String.fromCharCode(65 + i) }),
    ),
  );
  try {
    return await measure(nodes, token, redisPort);
  } finally {
    await Promise.all(nodes.map((n) => n.stop()));
  }
}

async function measure(
  nodes: HubNode[],
  token: string,
  redisPort: number | undefined,
): Promise<Round> {
  const a = nodes[0]!;
  const histograms = new Map(nodes.map((n) => [n.name, histogram()]));
  const byNode = new Map<string, Subscriber[]>();
  for (const [i, node] of nodes.entries()) {
    const share = Math.floor(SUBSCRIBERS / nodes.length) + (i < SUBSCRIBERS % nodes.length ? 1 : 0);
    byNode.set(node.name, await subscribe(node, share, histograms.get(node.name)!));
  }
  const all = [...byNode.values()].flat();
  await sleep(200);
  const base = all.map((s) => s.events);

  // Latency: a fixed rate, on a schedule (a late publish goes at once, not skipped).
  let published = 0;
  let inFlight = 0;
  const t0 = performance.now();
  for (let i = 0; performance.now() - t0 < LATENCY_S * 1000; i++) {
    const due = t0 + (i * 1000) / RATE;
    const wait = due - performance.now();
    if (wait > 1) await sleep(wait);
    if (i === RATE * WARMUP_S) for (const s of all) s.recording = true;
    while (inFlight >= 64) await sleep(1);
    inFlight++;
    published++;
    void publishOne(a, token, String(performance.now())).finally(() => {
      inFlight--;
    });
  }
  while (inFlight > 0) await sleep(5);
  const latencyLost = await drain(all, base, published, 10_000);
  for (const s of all) {
    s.recording = false;
    s.timing = false;
  }
  if (latencyLost > 0) console.warn(`  latency phase: ${latencyLost} deliveries missing`);

  // Throughput: concurrent publishers as fast as A answers; count deliveries in a window.
  const startCounts = all.map((s) => s.events);
  let accepted = 0;
  let refused = 0;
  let stop = false;
  const pids = new Map(nodes.map((n) => [n.name, n.pid]));
  const rpid = redisPort === undefined ? undefined : redisPid(redisPort);
  if (rpid !== undefined) pids.set('redis', rpid);
  const cpu0 = new Map([...pids].map(([name, pid]) => [name, cpuSeconds(pid)]));
  const self0 = process.cpuUsage();
  const w0 = performance.now();
  const publishers = Array.from({ length: PUBLISHERS }, async () => {
    while (!stop) {
      const n = await publishBatch(a, token, BATCH).catch(() => 0);
      if (n > 0) accepted += n;
      else refused += BATCH;
    }
  });
  await sleep(WARMUP_S * 1000);
  const delivered0 = all.reduce((sum, s) => sum + s.events, 0);
  const accepted0 = accepted;
  const m0 = performance.now();
  await sleep(THROUGHPUT_S * 1000);
  const delivered1 = all.reduce((sum, s) => sum + s.events, 0);
  const accepted1 = accepted;
  const m1 = performance.now();
  stop = true;
  await Promise.all(publishers);
  const wall = (performance.now() - w0) / 1000;
  const cpu: Record<string, number> = Object.fromEntries(
    [...pids].map(([name, pid]) => [name, cpuSeconds(pid) - cpu0.get(name)!]),
  );
  const self = process.cpuUsage(self0);
  cpu.loadGenerator = (self.user + self.system) / 1e6;
  // Every subscriber must end with every accepted event (closed loop check).
  const lost = await drain(all, startCounts, accepted, 20_000);
  return {
    subscribers: Object.fromEntries([...byNode].map(([name, subs]) => [name, subs.length])),
    latency: histograms,
    published: accepted1 - accepted0,
    delivered: delivered1 - delivered0,
    seconds: (m1 - m0) / 1000,
    refused,
    lost,
    disconnected: all.filter((s) => s.closed).length,
    cpu,
    wall,
  };
}

/** Adds up the rounds of one configuration. */
function summarize(rounds: readonly Round[], nodes: number): RunResult {
  const latency = new Map<string, Histogram>();
  for (const r of rounds) {
    for (const [name, h] of r.latency) {
      const merged = latency.get(name) ?? histogram();
      merged.add(h);
      latency.set(name, merged);
    }
  }
  const sum = (f: (r: Round) => number): number => rounds.reduce((total, r) => total + f(r), 0);
  const seconds = sum((r) => r.seconds);
  const wall = sum((r) => r.wall);
  const cpuPercent: Record<string, number> = {};
  for (const name of Object.keys(rounds[0]!.cpu)) {
    cpuPercent[name] = Math.round((sum((r) => r.cpu[name] ?? 0) / wall) * 100);
  }
  return {
    nodes,
    rounds: rounds.length,
    subscribers: rounds[0]!.subscribers,
    latency: Object.fromEntries([...latency].map(([name, h]) => [name, latencyOf(h)])),
    throughput: {
      publishers: PUBLISHERS,
      batch: BATCH,
      seconds: Math.round(seconds * 10) / 10,
      publishedPerSecond: Math.round(sum((r) => r.published) / seconds),
      deliveredPerSecond: Math.round(sum((r) => r.delivered) / seconds),
      refused: sum((r) => r.refused),
      lost: sum((r) => r.lost),
      disconnected: sum((r) => r.disconnected),
      cpuPercent,
    },
  };
}

function redisVersion(): string {
  try {
    return /v=(\S+)/.exec(execFileSync('redis-server', ['--version'], { encoding: 'utf8' }))![1]!;
  } catch {
    return 'unknown';
  }
}

let redis: TestRedis | undefined;
const cleanup = async (): Promise<void> => {
  killAllHubNodes();
  await redis?.stop();
};
process.once('SIGINT', () => {
  void cleanup().finally(() => process.exit(130));
});

try {
  const token = await makeToken({ publish: ['*'] });
  redis = await startRedis();
  const started = performance.now();
  const loadBefore = Math.round(loadavg()[0]! * 100) / 100;
  console.log(
    `nodes bench: ${ROUNDS} round(s), ${SUBSCRIBERS} subscribers, latency at ${RATE} events/s for ${LATENCY_S} s, throughput with ${PUBLISHERS} publishers × batches of ${BATCH} for ${THROUGHPUT_S} s${quick ? ' (quick)' : ''}`,
  );

  // The configurations take turns, round after round, so that other work on the machine
  // weighs on each alike. Without --quick, one node on the memory engine is the baseline.
  const configs: { name: 'memory' | 'one' | 'two'; engine: string; nodes: number }[] = [
    ...(quick ? [] : [{ name: 'memory' as const, engine: 'memory:', nodes: 1 }]),
    { name: 'one', engine: redis.url, nodes: 1 },
    { name: 'two', engine: redis.url, nodes: 2 },
  ];
  const rounds = new Map<string, Round[]>(configs.map((c) => [c.name, []]));
  for (let r = 0; r < ROUNDS; r++) {
    for (const c of configs) {
      const redisPort = c.engine === 'memory:' ? undefined : redis.port;
      const result = await round(c.engine, c.nodes, token, redisPort);
      rounds.get(c.name)!.push(result);
      console.log(
        `  round ${r + 1}/${ROUNDS} ${c.name}: ${Math.round(result.published / result.seconds)} published/s, ${Math.round(result.delivered / result.seconds)} delivered/s, load ${loadavg()[0]!.toFixed(1)}`,
      );
    }
  }
  const memory = quick ? undefined : summarize(rounds.get('memory')!, 1);
  const one = summarize(rounds.get('one')!, 1);
  const two = summarize(rounds.get('two')!, 2);

  const onA = two.latency.A!;
  const onB = two.latency.B!;
  const result = {
    bench: 'nodes',
    date: new Date().toISOString(),
    machine: {
      cpus: cpus().length,
      cpu: cpus()[0]?.model ?? 'unknown',
      node: process.version,
      redis: redisVersion(),
      // Other work on the machine moves the figures: the 1-minute load average before and after.
      loadAverageBefore: loadBefore,
      loadAverageAfter: Math.round(loadavg()[0]! * 100) / 100,
    },
    settings: {
      quick,
      subscribers: SUBSCRIBERS,
      rate: RATE,
      latencySeconds: LATENCY_S,
      throughputSeconds: THROUGHPUT_S,
      rounds: ROUNDS,
      publishers: PUBLISHERS,
      batch: BATCH,
      warmupSeconds: WARMUP_S,
    },
    ...(memory === undefined ? {} : { memoryBaseline: memory }),
    oneNode: one,
    twoNodes: two,
    crossNodeAddedMs: {
      p50: Math.round((onB.p50 - onA.p50) * 100) / 100,
      p99: Math.round((onB.p99 - onA.p99) * 100) / 100,
    },
    deliveredTwoOverOne:
      Math.round((two.throughput.deliveredPerSecond / one.throughput.deliveredPerSecond) * 100) /
      100,
    seconds: Math.round((performance.now() - started) / 1000),
  };

  const row = (label: string, subs: number, l: Latency): string =>
    `${label.padEnd(28)}${String(subs).padStart(6)}${String(l.p50).padStart(9)}${String(l.p90).padStart(9)}${String(l.p99).padStart(9)}${String(l.max).padStart(9)}`;
  console.log(`\nlatency, publish on A → subscriber (ms), ${RATE} events/s`);
  console.log(
    `${'configuration'.padEnd(28)}${'subs'.padStart(6)}${'p50'.padStart(9)}${'p90'.padStart(9)}${'p99'.padStart(9)}${'max'.padStart(9)}`,
  );
  if (memory !== undefined) {
    console.log(row('memory, 1 node: subs on A', memory.subscribers.A!, memory.latency.A!));
  }
  console.log(row('redis, 1 node: subs on A', one.subscribers.A!, one.latency.A!));
  console.log(row('redis, 2 nodes: subs on A', two.subscribers.A!, onA));
  console.log(row('redis, 2 nodes: subs on B', two.subscribers.B!, onB));
  console.log(
    `cross-node latency added (B − A): p50 ${result.crossNodeAddedMs.p50} ms, p99 ${result.crossNodeAddedMs.p99} ms`,
  );
  const t = (label: string, r: RunResult): string =>
    `${label.padEnd(12)}${String(r.throughput.publishedPerSecond).padStart(12)}${String(r.throughput.deliveredPerSecond).padStart(14)}${String(r.throughput.lost).padStart(7)}   ${Object.entries(
      r.throughput.cpuPercent,
    )
      .map(([n, c]) => `${n} ${c}%`)
      .join(', ')}`;
  console.log(
    `\nthroughput, ${PUBLISHERS} publishers on A (batches of ${BATCH}) as fast as it answers, ${SUBSCRIBERS} subscribers`,
  );
  console.log(
    `${''.padEnd(12)}${'published/s'.padStart(12)}${'delivered/s'.padStart(14)}${'lost'.padStart(7)}   CPU (% of one core)`,
  );
  if (memory !== undefined) console.log(t('memory, 1', memory));
  console.log(t('redis, 1', one));
  console.log(t('redis, 2', two));
  console.log(`delivered/s, two nodes over one: ${result.deliveredTwoOverOne}×`);

  // A quick run's figures are not the committed ones: bench/results/quick/ is git-ignored.
  const out =
    values.out ??
    fileURLToPath(
      new URL(
        values.quick ? './results/quick/nodes.json' : './results/nodes.json',
        import.meta.url,
      ),
    );
  mkdirSync(dirname(out), { recursive: true });
  writeFileSync(out, `${JSON.stringify(result, null, 2)}\n`);
  console.log(`\nwrote ${relative(process.cwd(), out)} (${result.seconds} s)`);
} finally {
  await cleanup();
}
