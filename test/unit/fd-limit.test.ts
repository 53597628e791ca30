// The connection limits derived from the open-file limit (src/server/fd-limit.ts) and how
// `herald serve` applies them: each limit below the one before, so that descriptors never run
// out before a limit answers.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { formatServeHelp, loadConfig } from '../../src/server/config.js';
import {
  ASSUMED_FD_LIMIT,
  defaultConnections,
  defaultSockets,
  defaultSocketsPerIp,
  readFdLimit,
} from '../../src/server/fd-limit.js';

const LIMITS = `Limit                     Soft Limit           Hard Limit           Units
Max cpu time              unlimited            unlimited            seconds
Max open files            1024                 524288               files
Max locked memory         8388608              8388608              bytes
`;

describe('reading the open-file limit', () => {
  it('reads the soft limit from /proc/self/limits', () => {
    assert.deepEqual(
      readFdLimit(() => LIMITS),
      { limit: 1024, measured: true },
    );
  });

  it('reads "unlimited" as a large number', () => {
    const { limit, measured } = readFdLimit(() =>
      LIMITS.replace('1024                 524288', 'unlimited            unlimited'),
    );
    assert.equal(measured, true);
    assert.ok(limit >= 1 << 20);
  });

  it('assumes a limit where the file cannot be read or has no such line', () => {
    const missing = readFdLimit(() => {
      throw Object.assign(new Error('ENOENT'), { code: 'ENOENT' });
    });
    assert.deepEqual(missing, { limit: ASSUMED_FD_LIMIT, measured: false });
    assert.deepEqual(
      readFdLimit(() => 'nothing here'),
      { limit: ASSUMED_FD_LIMIT, measured: false },
    );
  });

  it('reads this process limit (Linux)', { skip: process.platform !== 'linux' }, () => {
    const { limit, measured } = readFdLimit();
    assert.equal(measured, true);
    assert.ok(limit > 0);
  });
});

describe('derived defaults', () => {
  for (const fds of [64, 256, 1024, 4096, 20_000, 65_536, 1_048_576]) {
    it(`${fds} descriptors: process reserve > 0 < sockets, connections < sockets, per-IP < sockets`, () => {
      const sockets = defaultSockets(fds);
      const connections = defaultConnections(sockets);
      const perIp = defaultSocketsPerIp(1000, sockets);
      assert.ok(sockets < fds || fds < 80, `sockets ${sockets} below ${fds}`);
      assert.ok(fds - sockets >= Math.min(64, fds - 16), 'the process keeps descriptors');
      assert.ok(connections < sockets, `connections ${connections} below sockets ${sockets}`);
      assert.ok(connections <= 100_000);
      assert.ok(perIp <= sockets / 2, 'one address never takes half the sockets');
      assert.ok(perIp >= 1);
    });
  }

  it('the figures of the documentation', () => {
    assert.deepEqual([defaultSockets(1024), defaultConnections(defaultSockets(1024))], [921, 828]);
    assert.deepEqual(
      [defaultSockets(20_000), defaultConnections(defaultSockets(20_000))],
      [18_000, 16_200],
    );
    assert.equal(defaultConnections(defaultSockets(1_048_576)), 100_000);
    assert.equal(defaultSocketsPerIp(1000, 18_000), 1100);
    assert.equal(defaultSocketsPerIp(1000, 921), 460);
    assert.equal(defaultSocketsPerIp(0, 18_000), 9000, 'unbounded subscriptions: half the sockets');
    assert.equal(defaultSocketsPerIp(0, 0), 0, 'nothing bounded: no per-address bound');
  });
});

describe('herald serve applies them', () => {
  const load = (argv: string[], limit = 1024, measured = true) =>
    loadConfig({ argv, env: {}, fdLimit: { limit, measured } });

  it('derives --max-sockets, --max-connections and --max-sockets-per-ip', () => {
    const { config, notices } = load(['--anonymous']);
    assert.equal(config.limits.maxSockets, 921);
    assert.equal(config.limits.maxConnections, 828);
    assert.equal(config.limits.maxSocketsPerIp, 460);
    assert.deepEqual(config.limits.fdLimit, { limit: 1024, measured: true });
    assert.deepEqual(
      notices.filter((n) => /open-file/.test(n)),
      [],
    );
  });

  it('--max-connections follows an explicit --max-sockets; explicit values are kept', () => {
    assert.equal(load(['--max-sockets', '500']).config.limits.maxConnections, 450);
    assert.equal(load(['--max-sockets', '500']).config.limits.maxSocketsPerIp, 250);
    const explicit = load(['--max-connections', '7', '--max-sockets-per-ip', '9']).config.limits;
    assert.equal(explicit.maxConnections, 7);
    assert.equal(explicit.maxSocketsPerIp, 9);
    assert.equal(load(['--max-connections-per-ip', '10']).config.limits.maxSocketsPerIp, 110);
  });

  it('warns when --max-sockets is beyond the open-file limit', () => {
    const { notices } = load(['--max-sockets', '5000']);
    assert.ok(
      notices.some((n) => /--max-sockets: 5000 sockets with an open-file limit of 1024/.test(n)),
      notices.join('\n'),
    );
    assert.ok(load(['--max-sockets', '0']).notices.some((n) => /no socket limit/.test(n)));
    assert.deepEqual(
      load(['--max-sockets', '5000'], 1024, false).notices.filter((n) => /open-file/.test(n)),
      [],
    );
  });

  it('--idle-timeout takes a duration; 0 turns it off', () => {
    assert.equal(load(['--idle-timeout', '2s']).config.limits.idleTimeoutMs, 2000);
    assert.equal(load(['--idle-timeout', '0']).config.limits.idleTimeoutMs, 0);
  });

  it('--help says where the defaults come from', () => {
    const help = formatServeHelp();
    assert.match(help, /\/proc\/self\/limits/);
    assert.match(help, /4096\s+is\s+assumed/);
    assert.match(help, /--max-sockets-per-ip <n>/);
    assert.match(help, /--idle-timeout <duration>/);
  });
});
