// A real `herald serve` hub node in a child process, for the multi-node tests and bench: spawned
// from the TypeScript sources through tsx (no build needed), on a free port, with a given engine
// URL (`memory:`, `redis://…`, `nats://…`) and JWT key. The node can be stopped like an operator
// does (SIGTERM) or killed like a crash (SIGKILL); its output is kept for failure messages.
//
// No node outlives its test: every node is killed when the test process exits, and each child
// also exits by itself when its stdin pipe closes, which happens when the process that spawned
// it dies, even by SIGKILL.
//
// Also here, for the multi-node tests: a publish loop, an `eventsource` client whose requests
// are recorded (and can fail over between nodes), and a node's open subscriber connections.
import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { EventSource, type FetchLike } from 'eventsource';
import { Collector } from './async.js';
import { publish, SECRET } from './hub-server.js';

/** The repository root (the child runs there, so tsx finds tsconfig.json). */
const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const CLI = fileURLToPath(new URL('../../src/cli.ts', import.meta.url));
/**
 * Loaded into the child before the CLI: exit when stdin ends, i.e. when the parent is gone.
 * (Node has no parent-death signal; the pipe is the portable way.)
 */
const WATCHDOG =
  'data:text/javascript,process.stdin.on("end",()=>process.exit(70)).on("error",()=>process.exit(70)).resume()';
/** Most bytes of output kept per node (the tail), for failure messages. */
const OUTPUT_LIMIT = 64 * 1024;

/** Options of {@link startHubNode}. */
export interface HubNodeOptions {
  /** The `--engine` URL: `memory:`, `redis://127.0.0.1:6379`, `nats://…`. */
  engine: string;
  /** `--jwt-key` (publisher and subscriber HMAC key). Default: the tests' `SECRET`. */
  jwtKey?: string;
  /** The port to listen on; default 0 (a free one). Give the old port to restart a node. */
  port?: number;
  /** More `herald serve` flags, e.g. `['--anonymous', '--history-size', '5']`. */
  flags?: readonly string[];
  /** A name for messages (`A`, `B`…). Default `node`. */
  name?: string;
  /** `--log-level`. Default `warn` (logs then only say what went wrong). */
  logLevel?: string;
  /** Wait until `/readyz` answers 200 before resolving. Default `true`. */
  waitReady?: boolean;
  /** Safety net for start and readiness, in ms. Default 30 000. */
  timeoutMs?: number;
  /**
   * The Node binary that runs the node. Default: `process.execPath`, the test's own Node (under
   * Deno or Bun, give a Node from `PATH`).
   */
  nodePath?: string;
}

/** How a node process ended. */
export interface HubNodeExit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** A running `herald serve` child process. */
export interface HubNode {
  /** The name given in the options. */
  readonly name: string;
  /** `http://127.0.0.1:<port>` */
  readonly url: string;
  readonly port: number;
  readonly pid: number;
  /** The engine URL it was started with. */
  readonly engine: string;
  /** Resolves when the process has exited. */
  readonly exited: Promise<HubNodeExit>;
  /** Whether the process is still running. */
  readonly alive: boolean;
  /** Everything it wrote on stdout and stderr so far (the last 64 KiB). */
  readonly output: string;
  /** Sends `signal` (default SIGKILL: a crash) and waits until the process is gone. */
  kill(signal?: NodeJS.Signals): Promise<HubNodeExit>;
  /**
   * Graceful stop: SIGTERM, then waits for the exit; SIGKILL after `graceMs` (default 10 000).
   * Resolves at once when the node has already exited.
   */
  stop(graceMs?: number): Promise<HubNodeExit>;
  /** `GET /readyz`: its status and body (status 0 when the node cannot be reached). */
  readyz(): Promise<{ status: number; body: string }>;
  /** Waits until `/readyz` answers with `status` (default 200). */
  waitReadyz(status?: number, timeoutMs?: number): Promise<void>;
  /** An error message with the node's output, for assertion failures. */
  describe(what: string): string;
}

const running = new Set<ChildProcess>();
let exitHookInstalled = false;

/** Kills every node this process started that is still running (SIGKILL, synchronous). */
export function killAllHubNodes(): void {
  for (const child of running) {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }
}

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.once('exit', killAllHubNodes);
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Spawns `node --import tsx src/cli.ts serve --addr 127.0.0.1:<port> --engine <engine>
 * --jwt-key <key> …` and resolves once it listens and (by default) `/readyz` answers 200.
 *
 * @throws with the node's output when it exits or does not get ready in time
 */
export async function startHubNode(options: HubNodeOptions): Promise<HubNode> {
  installExitHook();
  const name = options.name ?? 'node';
  const timeoutMs = options.timeoutMs ?? 30_000;
  const args = [
    '--import',
    'tsx',
    '--import',
    WATCHDOG,
    CLI,
    'serve',
    '--addr',
    `127.0.0.1:${options.port ?? 0}`,
    '--engine',
    options.engine,
    '--jwt-key',
    options.jwtKey ?? SECRET,
    '--log-level',
    options.logLevel ?? 'warn',
    ...(options.flags ?? []),
  ];
  // Only what the node needs from the environment: no HERALD_* from the test runner's shell.
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (!key.startsWith('HERALD_') && !key.startsWith('NODE_TEST')) env[key] = value;
  }
  const child = spawn(options.nodePath ?? process.execPath, args, {
    cwd: ROOT,
    env,
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  running.add(child);
  let output = '';
  const append = (chunk: Buffer): void => {
    output += chunk.toString();
    if (output.length > OUTPUT_LIMIT) output = output.slice(-OUTPUT_LIMIT);
  };
  child.stdout!.on('data', append);
  child.stderr!.on('data', append);
  child.stdin!.on('error', () => {}); // EPIPE once the child is gone
  const exited = new Promise<HubNodeExit>((resolve) => {
    child.once('exit', (code, signal) => {
      running.delete(child);
      resolve({ code, signal });
    });
  });
  const describe = (what: string): string =>
    `${what} (hub node ${name}, pid ${child.pid}, engine ${options.engine})\n--- its output ---\n${output.trimEnd()}\n---`;

  const failStart = async (why: string): Promise<never> => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await exited;
    throw new Error(describe(why));
  };

  // The CLI prints `Herald hub listening on <url>` once the socket listens (on stderr outside
  // dev mode: stdout carries JSON log lines only).
  const listening = new Promise<string>((resolve) => {
    let seen = '';
    const onData = (chunk: Buffer): void => {
      seen += chunk.toString();
      const m = /Herald hub listening on (http:\/\/\S+)/.exec(seen);
      if (m !== null) {
        child.stderr!.off('data', onData);
        resolve(m[1]!);
      }
    };
    child.stderr!.on('data', onData);
  });
  let timer: ReturnType<typeof setTimeout> | undefined;
  const started = await Promise.race([
    listening,
    exited.then((exit) => ({ exit })),
    new Promise<'timeout'>((resolve) => {
      timer = setTimeout(() => resolve('timeout'), timeoutMs);
    }),
  ]);
  clearTimeout(timer);
  if (started === 'timeout') return failStart(`did not listen within ${timeoutMs} ms`);
  if (typeof started !== 'string') {
    return failStart(`exited during startup (code ${started.exit.code}, ${started.exit.signal})`);
  }
  const url = started.replace('localhost', '127.0.0.1');
  const port = Number(new URL(url).port);

  const readyz = async (): Promise<{ status: number; body: string }> => {
    try {
      const res = await fetch(`${url}/readyz`, { signal: AbortSignal.timeout(2000) });
      return { status: res.status, body: await res.text() };
    } catch (error) {
      return { status: 0, body: String(error) };
    }
  };
  const waitReadyz = async (status = 200, ms = timeoutMs): Promise<void> => {
    const deadline = Date.now() + ms;
    let last = { status: 0, body: '' };
    for (;;) {
      if (child.exitCode !== null || child.signalCode !== null) {
        throw new Error(describe(`exited while waiting for /readyz ${status}`));
      }
      last = await readyz();
      if (last.status === status) return;
      if (Date.now() > deadline) {
        throw new Error(
          describe(
            `/readyz did not answer ${status} within ${ms} ms (last: ${last.status} ${last.body})`,
          ),
        );
      }
      await sleep(25);
    }
  };

  const node: HubNode = {
    name,
    url,
    port,
    pid: child.pid!,
    engine: options.engine,
    exited,
    get alive() {
      return child.exitCode === null && child.signalCode === null;
    },
    get output() {
      return output;
    },
    async kill(signal: NodeJS.Signals = 'SIGKILL') {
      if (node.alive) child.kill(signal);
      return exited;
    },
    async stop(graceMs = 10_000) {
      if (!node.alive) return exited;
      child.kill('SIGTERM');
      let forced: ReturnType<typeof setTimeout> | undefined;
      const force = new Promise<void>((resolve) => {
        forced = setTimeout(() => {
          if (node.alive) child.kill('SIGKILL');
          resolve();
        }, graceMs);
      });
      await Promise.race([exited, force]);
      clearTimeout(forced);
      return exited;
    },
    readyz,
    waitReadyz,
    describe,
  };
  if (options.waitReady !== false) {
    try {
      await waitReadyz(200);
    } catch (error) {
      return failStart((error as Error).message.split('\n')[0]!);
    }
  }
  return node;
}

/**
 * Starts `count` nodes on the same engine in parallel, named `A`, `B`, `C`…; if one fails to
 * start, the others are killed and the error is rethrown.
 */
export async function startHubNodes(
  count: number,
  options: Omit<HubNodeOptions, 'name' | 'port'>,
): Promise<HubNode[]> {
  const results = await Promise.allSettled(
    Array.from({ length: count }, (_, i) =>
      startHubNode({ ...options, name: String.fromCharCode(65 + i) }),
    ),
  );
  const failed = results.find((r) => r.status === 'rejected');
  if (failed !== undefined) {
    await Promise.all(results.map((r) => (r.status === 'fulfilled' ? r.value.kill() : undefined)));
    throw (failed as PromiseRejectedResult).reason;
  }
  return results.map((r) => (r as PromiseFulfilledResult<HubNode>).value);
}

/** Stops every node given (SIGKILL: tests do not need a graceful end), ignoring missing ones. */
export async function killHubNodes(nodes: readonly (HubNode | undefined)[]): Promise<void> {
  await Promise.all(nodes.map((node) => node?.kill('SIGKILL')));
}

/**
 * Waits for `/readyz` to answer `status` on every node (a node that cannot promise gap-free
 * delivery answers 503).
 */
export async function waitAllReadyz(
  nodes: readonly HubNode[],
  status = 200,
  timeoutMs?: number,
): Promise<void> {
  await Promise.all(nodes.map((node) => node.waitReadyz(status, timeoutMs)));
}

/**
 * Publishes to one topic in a loop, one request at a time (so the order of the answers is the
 * publish order), with the sequence number as data, until stopped. Records every answer.
 */
export class PublishLoop {
  /** Ids of accepted publishes, in order. */
  readonly ok = new Collector<string>();
  /** Sequence numbers of accepted publishes, parallel to `ok`. */
  readonly okSeq: number[] = [];
  /** Refused publishes: sequence number, status, reason. */
  readonly refused = new Collector<{ seq: number; status: number; body: string }>();
  readonly done: Promise<void>;
  #stopped = false;

  /**
   * @param base - the node to publish to, asked before every publish
   * @param topic - the topic of every event
   * @param token - a publisher JWT
   * @param firstRetryMs - a `retry` field on the first event (the clients' reconnection delay)
   */
  constructor(base: () => string, topic: string, token: string, firstRetryMs?: number) {
    this.done = (async () => {
      for (let seq = 0; !this.#stopped && seq < 5000; seq++) {
        const fields = {
          topic,
          data: String(seq),
          // The first event sets the clients' reconnection delay (SSE `retry:`), so the tests
          // do not wait the default 3 s before a client reconnects.
          ...(seq === 0 && firstRetryMs !== undefined ? { retry: String(firstRetryMs) } : {}),
        };
        let res: Response;
        try {
          res = await publish(base(), fields, token);
        } catch (error) {
          this.refused.push({ seq, status: 0, body: String(error) });
          continue;
        }
        const body = await res.text();
        if (res.status === 200) {
          this.okSeq.push(seq);
          this.ok.push(body);
        } else {
          this.refused.push({ seq, status: res.status, body });
        }
      }
    })();
  }

  /** Stops after the publish under way; resolves when it answered. */
  async stop(): Promise<void> {
    this.#stopped = true;
    await this.done;
  }
}

/** The `herald_connections` gauge of a node: its open subscriber connections. */
export async function subscriberConnections(node: HubNode): Promise<number> {
  const res = await fetch(`${node.url}/metrics`);
  const text = await res.text();
  const m = /^herald_connections (\d+)/m.exec(text);
  if (m === null) throw new Error(node.describe(`no herald_connections in /metrics:\n${text}`));
  return Number(m[1]);
}

/** An `eventsource` client, what it received, and where each of its requests went. */
export interface TrackedEventSource {
  es: EventSource;
  /** `lastEventId` of every `message` event, in order. */
  ids: Collector<string>;
  /** One item per `open`. */
  opens: Collector<number>;
  /** Every request: the node it reached, the Last-Event-ID it sent, its status or error. */
  attempts: { origin: string; lastEventId: string | undefined; outcome: string }[];
}

/**
 * An `EventSource` from the `eventsource` package (WHATWG EventSource for Node; it sends
 * Last-Event-ID when it reconnects by itself) on `path`, with its requests recorded.
 *
 * - `origins`: the hub addresses, in order of preference: every request goes to the first that
 *   accepts the connection (how a client with a list of hubs, or DNS round robin, fails over).
 *   Without it, `path` is a full URL (e.g. the load balancer's).
 * - `beforeReconnect`: awaited before every request but the first, so a test can choose what
 *   happens while the client is away.
 */
export function trackedEventSource(
  path: string,
  options: { origins?: () => string[]; beforeReconnect?: () => Promise<void> } = {},
): TrackedEventSource {
  const attempts: TrackedEventSource['attempts'] = [];
  let requests = 0;
  const tracked: FetchLike = async (url, init) => {
    if (requests++ > 0) await options.beforeReconnect?.();
    const origins = options.origins?.() ?? [new URL(url).origin];
    let lastError: unknown;
    for (const origin of origins) {
      const target = new URL(url);
      target.host = new URL(origin).host;
      const lastEventId = init.headers['Last-Event-ID'];
      try {
        const res = await fetch(target, init);
        attempts.push({ origin, lastEventId, outcome: String(res.status) });
        return res;
      } catch (error) {
        attempts.push({ origin, lastEventId, outcome: String(error) });
        lastError = error;
      }
    }
    throw lastError;
  };
  const first = options.origins === undefined ? path : `${options.origins()[0]}${path}`;
  const es = new EventSource(first, { fetch: tracked });
  const ids = new Collector<string>();
  const opens = new Collector<number>();
  es.onmessage = (event) => ids.push(event.lastEventId);
  es.onopen = () => opens.push(opens.items.length + 1);
  return { es, ids, opens, attempts };
}
