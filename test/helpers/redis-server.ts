// A real redis-server for integration tests: spawned on a free port in a temp dir, stopped
// (SIGKILL, like a crash) and restarted on the same port.
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { requireBinary } from './binary.js';
import { getFreePort } from './net.js';

/** Skip reason when redis-server is missing (throws under CI=true), else `undefined`. */
export const redisSkip = requireBinary('redis-server', 'apt-get install redis-server');

/** A redis-server the test owns. */
export interface TestRedis {
  readonly port: number;
  /** `redis://127.0.0.1:<port>` */
  readonly url: string;
  /** Kills the server (SIGKILL) and waits until it is gone. */
  kill(): Promise<void>;
  /** Starts it again on the same port and directory (data survives only with `persist`). */
  start(): Promise<void>;
  /** Kills it and removes its directory. */
  stop(): Promise<void>;
}

async function portOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

/** Spawns `redis-server <args>` and resolves once it accepts connections on `port`. */
async function spawnRedis(args: readonly string[], port: number): Promise<ChildProcess> {
  const c = spawn('redis-server', args, { stdio: ['ignore', 'ignore', 'inherit'] });
  const exited = once(c, 'exit').then(() => {
    throw new Error(`redis-server exited during startup (port ${port})`);
  });
  exited.catch(() => {});
  for (let i = 0; i < 200; i++) {
    if (await portOpen(port)) return c;
    await Promise.race([new Promise((r) => setTimeout(r, 25)), exited]);
  }
  c.kill('SIGKILL');
  throw new Error(`redis-server did not listen on ${port}`);
}

async function killAll(children: ChildProcess[]): Promise<void> {
  await Promise.all(
    children.map(async (c) => {
      if (c.exitCode !== null || c.signalCode !== null) return;
      const gone = once(c, 'exit');
      c.kill('SIGKILL');
      await gone;
    }),
  );
}

/** Waits until `check` resolves true (polling every 100 ms), or throws `what` after ~`ms`. */
async function until(what: string, check: () => Promise<boolean>, ms = 20_000): Promise<void> {
  for (let waited = 0; waited < ms; waited += 100) {
    if (await check().catch(() => false)) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out waiting for ${what}`);
}

/** A master, one replica and one sentinel watching them, each on a free port. */
export interface TestRedisSentinel {
  /** `redis+sentinel://127.0.0.1:<sentinel port>/<master>` */
  readonly url: string;
  readonly master: string;
  readonly sentinelPort: number;
  /** Ports of the two data servers (the first starts as master). */
  readonly ports: readonly number[];
  /** Kills every process and removes their directories. */
  stop(): Promise<void>;
}

/**
 * Starts a master, a replica of it and a sentinel monitoring the master (quorum 1), and waits
 * until the sentinel knows the replica, so `SENTINEL FAILOVER` can promote it.
 */
export async function startRedisSentinel(master = 'herald'): Promise<TestRedisSentinel> {
  const dir = mkdtempSync(join(tmpdir(), 'herald-sentinel-'));
  const children: ChildProcess[] = [];
  try {
    const [p1, p2, ps] = [await getFreePort(), await getFreePort(), await getFreePort()];
    const base = (port: number) => ['--port', String(port), '--bind', '127.0.0.1', '--save', ''];
    children.push(await spawnRedis([...base(p1), '--dir', dir], p1));
    children.push(
      await spawnRedis([...base(p2), '--dir', dir, '--replicaof', '127.0.0.1', String(p1)], p2),
    );
    const conf = join(dir, 'sentinel.conf');
    writeFileSync(
      conf,
      [
        `port ${ps}`,
        'bind 127.0.0.1',
        `dir ${dir}`,
        `sentinel monitor ${master} 127.0.0.1 ${p1} 1`,
        `sentinel down-after-milliseconds ${master} 1000`,
        `sentinel failover-timeout ${master} 5000`,
        '',
      ].join('\n'),
    );
    children.push(await spawnRedis([conf, '--sentinel'], ps));
    const sentinel = new Redis({ port: ps, host: '127.0.0.1', lazyConnect: true });
    try {
      await until('the sentinel to see the replica', async () => {
        const replicas = (await sentinel.call('SENTINEL', 'REPLICAS', master)) as string[][];
        return replicas.some((r) => {
          const flags = r[r.indexOf('flags') + 1] ?? '';
          return flags === 'slave';
        });
      });
    } finally {
      sentinel.disconnect();
    }
    return {
      url: `redis+sentinel://127.0.0.1:${ps}/${master}`,
      master,
      sentinelPort: ps,
      ports: [p1, p2],
      async stop() {
        await killAll(children);
        rmSync(dir, { recursive: true, force: true });
      },
    };
  } catch (error) {
    await killAll(children);
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }
}

/** A three-master Redis Cluster on free ports. */
export interface TestRedisCluster {
  /** `redis+cluster://127.0.0.1:<p1>,127.0.0.1:<p2>,127.0.0.1:<p3>` */
  readonly url: string;
  readonly ports: readonly number[];
  /** Kills every node and removes their directories. */
  stop(): Promise<void>;
}

/** Starts three cluster-enabled redis-servers and joins them with `redis-cli --cluster create`. */
export async function startRedisCluster(): Promise<TestRedisCluster> {
  const dir = mkdtempSync(join(tmpdir(), 'herald-cluster-'));
  const children: ChildProcess[] = [];
  try {
    const ports = [await getFreePort(), await getFreePort(), await getFreePort()];
    for (const port of ports) {
      const d = join(dir, String(port));
      mkdirSync(d);
      children.push(
        await spawnRedis(
          [
            '--port',
            String(port),
            '--bind',
            '127.0.0.1',
            '--dir',
            d,
            '--save',
            '',
            '--cluster-enabled',
            'yes',
            '--cluster-config-file',
            'nodes.conf',
            '--cluster-node-timeout',
            '2000',
          ],
          port,
        ),
      );
    }
    const create = spawnSync(
      'redis-cli',
      [
        '--cluster',
        'create',
        ...ports.map((p) => `127.0.0.1:${p}`),
        '--cluster-replicas',
        '0',
        '--cluster-yes',
      ],
      { encoding: 'utf8' },
    );
    if (create.status !== 0)
      throw new Error(`redis-cli --cluster create failed: ${create.stdout}${create.stderr}`);
    for (const port of ports) {
      const node = new Redis({ port, host: '127.0.0.1', lazyConnect: true });
      try {
        await until(`cluster node ${port} to be ok`, async () =>
          String(await node.call('CLUSTER', 'INFO')).includes('cluster_state:ok'),
        );
      } finally {
        node.disconnect();
      }
    }
    return {
      url: `redis+cluster://${ports.map((p) => `127.0.0.1:${p}`).join(',')}`,
      ports,
      async stop() {
        await killAll(children);
        rmSync(dir, { recursive: true, force: true });
      },
    };
  } catch (error) {
    await killAll(children);
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }
}

/**
 * Starts redis-server on a free port. With `persist`, it writes an append-only file synced on
 * every write, so a restart keeps the stream.
 */
export async function startRedis(options: { persist?: boolean } = {}): Promise<TestRedis> {
  const dir = mkdtempSync(join(tmpdir(), 'herald-redis-'));
  const port = await getFreePort();
  let child: ChildProcess | undefined;
  const args = [
    '--port',
    String(port),
    '--bind',
    '127.0.0.1',
    '--dir',
    dir,
    '--save',
    '',
    ...(options.persist === true
      ? ['--appendonly', 'yes', '--appendfsync', 'always']
      : ['--appendonly', 'no']),
  ];
  const start = async (): Promise<void> => {
    child = await spawnRedis(args, port);
  };
  const kill = async (): Promise<void> => {
    const c = child;
    child = undefined;
    if (c === undefined || c.exitCode !== null || c.signalCode !== null) return;
    const gone = once(c, 'exit');
    c.kill('SIGKILL');
    await gone;
  };
  await start();
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    kill,
    start,
    async stop() {
      await kill();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
