// A cluster for the multi-node chaos scenarios: one shared engine server (a real redis-server
// with an append-only file synced on every write, or a real nats-server with JetStream on a
// store directory), and `herald serve` nodes in their own processes over it — separate
// processes because the scenarios SIGKILL them. Built on the multi-node test helpers
// (test/helpers/hub-node.ts, redis-server.ts, nats-server.ts), with the harness's JWT key.
import { findBinary } from '../../test/helpers/binary.js';
import { type HubNode, startHubNode, startHubNodes } from '../../test/helpers/hub-node.js';
import { startNats } from '../../test/helpers/nats-server.js';
import { startRedis } from '../../test/helpers/redis-server.js';
import { parseMetrics } from './hub.js';
import { sleep } from './time.js';
import { HARNESS_SECRET } from './tokens.js';

/** The shared engines the scenarios run over. */
export type EngineKind = 'redis' | 'nats';

/** A shared engine server the scenario owns. */
export interface EngineServer {
  readonly kind: EngineKind;
  /** The `--engine` URL of the nodes. */
  readonly url: string;
  /** Crashes it (SIGKILL) and waits until it is gone. */
  kill(): Promise<void>;
  /** Starts it again on the same port, with what it persisted. */
  start(): Promise<void>;
  /** Kills it and removes its data. */
  stop(): Promise<void>;
}

/** The binary an engine needs, as `Scenario.needs` names it. */
export function engineBinary(kind: EngineKind): string {
  // Debian installs nats-server in /usr/sbin, which is not on every PATH.
  return kind === 'redis' ? 'redis-server' : (findBinary('nats-server') ?? '/usr/sbin/nats-server');
}

/**
 * Starts an engine server that persists every acknowledged write, so a restart loses nothing
 * that was answered 200: Redis with `appendonly yes` + `appendfsync always`, NATS with a file
 * store in its own directory (kept across the restart).
 */
export async function startEngine(kind: EngineKind): Promise<EngineServer> {
  const server = kind === 'redis' ? await startRedis({ persist: true }) : await startNats();
  return {
    kind,
    url: server.url,
    kill: () => server.kill(),
    start: () => server.start(),
    stop: () => server.stop(),
  };
}

/**
 * `herald serve` flags every multi-node harness node gets: anonymous subscribers (public
 * updates only), and no per-IP bound, since every harness client comes from 127.0.0.1.
 */
const NODE_FLAGS = ['--anonymous', '--max-connections-per-ip', '0'];

/** Starts `count` nodes (`A`, `B`, …) over `engine`, each with `flags` after the harness's. */
export function startNodes(
  count: number,
  engine: EngineServer,
  flags: readonly string[],
): Promise<HubNode[]> {
  return startHubNodes(count, {
    engine: engine.url,
    jwtKey: HARNESS_SECRET,
    flags: [...NODE_FLAGS, ...flags],
  });
}

/** Starts a node again on the port (and under the name) of one that died. */
export function restartNode(
  old: HubNode,
  engine: EngineServer,
  flags: readonly string[],
): Promise<HubNode> {
  return startHubNode({
    engine: engine.url,
    jwtKey: HARNESS_SECRET,
    name: old.name,
    port: old.port,
    flags: [...NODE_FLAGS, ...flags],
  });
}

/** The `herald_connections` gauge of a node (its open subscriber streams). */
export async function openStreams(node: HubNode): Promise<number> {
  const res = await fetch(`${node.url}/metrics`, { signal: AbortSignal.timeout(5000) });
  return parseMetrics(await res.text()).get('herald_connections') ?? Number.NaN;
}

/**
 * Waits until the nodes together hold `expected` open streams (a closed client is seen by the
 * hub a moment later); resolves with the last total seen.
 */
export async function settleOpenStreams(
  nodes: readonly HubNode[],
  expected: number,
  timeoutMs = 5000,
): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const counts = await Promise.all(
      nodes.map((node) => openStreams(node).catch(() => Number.NaN)),
    );
    const sum = counts.reduce((a, b) => a + b, 0);
    if (sum === expected || Date.now() > deadline) return sum;
    await sleep(100);
  }
}

/** One readiness change of a node, as the watcher saw it. */
export interface ReadinessChange {
  node: string;
  /** `/readyz` status: 200, 503, or 0 when the node could not be reached. */
  status: number;
  /** Its body (the reason when not ready). */
  body: string;
  /** `performance.now()` of the poll that saw it. */
  at: number;
}

/**
 * Polls `/readyz` of every node every `periodMs` and keeps each change of status: what a load
 * balancer's health check would see.
 */
export class ReadinessWatch {
  /** Status changes in the order seen (the first poll of each node counts as a change). */
  readonly changes: ReadinessChange[] = [];
  /** Polls made. */
  polls = 0;
  readonly #nodes: readonly HubNode[];
  readonly #periodMs: number;
  readonly #last = new Map<string, number>();
  #running = false;
  #loop: Promise<void> | undefined;

  constructor(nodes: readonly HubNode[], periodMs = 50) {
    this.#nodes = nodes;
    this.#periodMs = periodMs;
  }

  /** Starts polling. */
  start(): void {
    this.#running = true;
    this.#loop = (async () => {
      while (this.#running) {
        await Promise.all(
          this.#nodes.map(async (node) => {
            const { status, body } = await node.readyz();
            this.polls++;
            if (this.#last.get(node.name) !== status) {
              this.#last.set(node.name, status);
              this.changes.push({ node: node.name, status, body, at: performance.now() });
            }
          }),
        );
        await sleep(this.#periodMs);
      }
    })();
  }

  /** The first change of `node` to `status` at or after `since`. */
  first(node: string, status: number, since: number): ReadinessChange | undefined {
    return this.changes.find((c) => c.node === node && c.status === status && c.at >= since);
  }

  /** The status last seen for `node`. */
  current(node: string): number | undefined {
    return this.#last.get(node);
  }

  /** Resolves once `node`'s status is `status` (or after `timeoutMs`); whether it is. */
  async until(node: string, status: number, timeoutMs: number): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (this.#last.get(node) !== status && Date.now() < deadline) await sleep(10);
    return this.#last.get(node) === status;
  }

  /** Stops polling; resolves once the poll under way is done. */
  async stop(): Promise<void> {
    this.#running = false;
    await this.#loop;
  }
}
