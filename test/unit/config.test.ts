import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { decodeProtectedHeader, jwtVerify } from 'jose';
import {
  createDevToken,
  formatServeHelp,
  HeraldConfigError,
  HUB_URL_PLACEHOLDER,
  type LoadConfigOptions,
  type LoadedConfig,
  loadConfig,
  parseAddr,
  parseBytes,
  parseDuration,
  SERVE_OPTIONS,
} from '../../src/server/config.js';
import { createSelfSignedCert, opensslSkipReason, type SelfSignedCert } from '../helpers/tls.js';

/** A file system of a few files, for `readFile`; anything else is ENOENT. */
function files(contents: Record<string, string>): (path: string) => string {
  return (path) => {
    const text = contents[path];
    if (text === undefined) {
      throw Object.assign(new Error(`ENOENT: no such file or directory, open '${path}'`), {
        code: 'ENOENT',
      });
    }
    return text;
  };
}

function load(
  argv: string[],
  env: Record<string, string> = {},
  fs: Record<string, string> = {},
): LoadedConfig {
  // A host's open-file limit of 2^20: the derived defaults are then the documented maxima.
  return loadConfig({ argv, env, readFile: files(fs), fdLimit: MANY_FDS });
}

const MANY_FDS = { limit: 1_048_576, measured: true } as const;

/** Asserts `loadConfig` fails with a HeraldConfigError whose message names `source`. */
function rejects(
  options: Partial<LoadConfigOptions> & { fs?: Record<string, string> },
  source: string,
  pattern?: RegExp,
): HeraldConfigError {
  try {
    loadConfig({
      argv: options.argv ?? [],
      env: options.env ?? {},
      readFile: options.readFile ?? files(options.fs ?? {}),
    });
  } catch (error) {
    assert.ok(error instanceof HeraldConfigError, `expected HeraldConfigError, got ${error}`);
    assert.ok(error.message.includes(source), `message should name ${source}: ${error.message}`);
    if (pattern) assert.match(error.message, pattern);
    return error;
  }
  assert.fail(`expected a HeraldConfigError naming ${source}`);
}

const SECRET = 'a-shared-secret-of-at-least-32-bytes!!';

describe('the option table', () => {
  it('derives env names and file keys mechanically from the flag', () => {
    for (const o of SERVE_OPTIONS) {
      assert.match(o.flag, /^--[a-z0-9]+(-[a-z0-9]+)*$/);
      assert.equal(o.env, `HERALD_${o.flag.slice(2).replaceAll('-', '_').toUpperCase()}`);
      if (o.fileKey !== undefined) {
        assert.equal(
          o.fileKey,
          o.flag.slice(2).replace(/-([a-z0-9])/g, (_m, c) => c.toUpperCase()),
        );
      }
    }
  });

  it('has every contract flag', () => {
    const flags = new Set(SERVE_OPTIONS.map((o) => o.flag));
    for (const flag of [
      '--addr',
      '--port',
      '--jwt-key',
      '--publisher-jwt-key',
      '--subscriber-jwt-key',
      '--jwt-alg',
      '--anonymous',
      '--subscriptions',
      '--cors-origins',
      '--engine',
      '--history-size',
      '--dev',
    ]) {
      assert.ok(flags.has(flag), flag);
    }
  });

  it('generates help naming every flag, env var, file key and default', () => {
    const help = formatServeHelp();
    for (const o of SERVE_OPTIONS) {
      assert.ok(help.includes(o.flag), o.flag);
      assert.ok(help.includes(o.env), o.env);
      if (o.fileKey) assert.ok(help.includes(`file key ${o.fileKey}`), o.fileKey);
    }
    assert.match(
      help,
      /--jwt-alg <alg>\n(?: {6}.*\n)*? {6}env HERALD_JWT_ALG · file key jwtAlg · default HS256\n/,
    );
    assert.match(help, /--no-dashboard/);
  });
});

describe('defaults', () => {
  it('applies every default', () => {
    const { config, devToken } = load([]);
    assert.equal(devToken, undefined);
    assert.deepEqual(config, {
      host: '',
      port: 8080,
      tls: undefined,
      h2c: false,
      engine: 'memory:',
      historySize: 10_000,
      historyBytes: 16 * 1024 * 1024,
      historyTopics: [],
      historyTtlMs: 0,
      heartbeatMs: 15_000,
      queueBytes: 1024 * 1024,
      publisherKey: undefined,
      subscriberKey: undefined,
      jwksUrl: undefined,
      jwksMaxBytes: 1024 * 1024,
      jwksTimeoutMs: 5000,
      anonymous: false,
      subscriptions: false,
      corsOrigins: [],
      publishOrigins: [],
      dev: false,
      dashboard: false,
      devPublisherKey: false,
      devTokenTtlMs: 600_000,
      dashboardCredentials: undefined,
      trustedProxies: [],
      logLevel: 'info',
      shutdownGraceMs: 10_000,
      stallTimeoutMs: 30_000,
      limits: {
        maxConnections: 100_000,
        maxConnectionsPerIp: 1000,
        queueBytesPerIp: 16 * 1024 * 1024,
        maxTopics: 1000,
        maxUpdateTopics: 100,
        maxTemplateCost: 128 * 1024,
        maxSubscriptionCost: 1024 * 1024,
        maxTemplateCostPerIp: 8 * 1024 * 1024,
        maxTemplateCostTotal: 128 * 1024 * 1024,
        maxBodyBytes: 1024 * 1024,
        publishRate: 0,
        subscriptionEventsRate: 1000,
        headersTimeoutMs: 10_000,
        requestTimeoutMs: 30_000,
        maxSockets: 943_718,
        maxSocketsPerIp: 1100,
        idleTimeoutMs: 10_000,
        fdLimit: MANY_FDS,
      },
    });
  });

  it('tells how to get a publisher and a subscriber key when there are none', () => {
    const { notices } = load([]);
    assert.ok(notices.some((n) => /No publisher key.*401.*--jwt-key/.test(n)));
    assert.ok(notices.some((n) => /every subscription is refused.*--anonymous/.test(n)));
    assert.deepEqual(load(['--jwt-key', SECRET]).notices, []);
  });
});

describe('precedence: flag > env > file > default', () => {
  const FILE = '/etc/herald/herald.yaml';
  const yaml = [
    'port: 7000',
    'historySize: 70',
    'corsOrigins: [https://file.example]',
    'logLevel: warn',
    'heartbeat: 7s',
    'subscriptions: true',
  ].join('\n');
  const env = {
    HERALD_CONFIG: FILE,
    HERALD_PORT: '8000',
    HERALD_HISTORY_SIZE: '80',
    HERALD_CORS_ORIGINS: 'https://env.example',
    HERALD_LOG_LEVEL: 'debug',
  };

  it('the file beats the default', () => {
    const { config } = load([], { HERALD_CONFIG: FILE }, { [FILE]: yaml });
    assert.equal(config.port, 7000);
    assert.equal(config.historySize, 70);
    assert.deepEqual(config.corsOrigins, ['https://file.example']);
    assert.equal(config.logLevel, 'warn');
    assert.equal(config.heartbeatMs, 7000);
    assert.equal(config.subscriptions, true);
  });

  it('the environment beats the file', () => {
    const { config } = load([], env, { [FILE]: yaml });
    assert.equal(config.port, 8000);
    assert.equal(config.historySize, 80);
    assert.deepEqual(config.corsOrigins, ['https://env.example']);
    assert.equal(config.logLevel, 'debug');
    assert.equal(config.heartbeatMs, 7000, 'not in env: the file value stays');
  });

  it('a flag beats the environment', () => {
    const { config } = load(
      [
        '--port',
        '9000',
        '--history-size=90',
        '--cors-origins',
        'https://flag.example,https://other.example',
        '--log-level',
        'error',
        '--no-subscriptions',
      ],
      env,
      { [FILE]: yaml },
    );
    assert.equal(config.port, 9000);
    assert.equal(config.historySize, 90);
    assert.deepEqual(config.corsOrigins, ['https://flag.example', 'https://other.example']);
    assert.equal(config.logLevel, 'error');
    assert.equal(config.subscriptions, false);
  });

  it('--config beats HERALD_CONFIG', () => {
    const { config } = load(
      ['--config', '/b.json'],
      { HERALD_CONFIG: '/a.json' },
      {
        '/a.json': '{"port": 1}',
        '/b.json': '{"port": 2}',
      },
    );
    assert.equal(config.port, 2);
  });

  it('a repeated list flag accumulates; a repeated scalar flag: the last wins', () => {
    const { config } = load([
      '--cors-origins',
      'https://a.example',
      '--cors-origins=https://b.example',
      '--port',
      '1',
      '--port',
      '2',
    ]);
    assert.deepEqual(config.corsOrigins, ['https://a.example', 'https://b.example']);
    assert.equal(config.port, 2);
  });

  it('an empty environment variable counts as unset', () => {
    assert.equal(load([], { HERALD_PORT: '' }).config.port, 8080);
  });
});

describe('config files', () => {
  it('reads YAML (by extension) with every kind of value', () => {
    const yaml = `
addr: 127.0.0.1:9100
engine: memory
historySize: 5
historyBytes: 2MiB
historyTtl: 1h30m
heartbeat: 2500
queueBytes: 65536
anonymous: yes
corsOrigins:
  - https://a.example
  - http://localhost:3000
publishOrigins: https://a.example, https://b.example
maxConnections: 10
maxConnectionsPerIp: 2
maxTopics: 3
maxUpdateTopics: 7
maxBodyBytes: 4KiB
publishRate: 0.5
subscriptionEventsRate: 500
shutdownGrace: 2s
logLevel: silent
dashboard: true
`;
    const { config } = load(['--config', '/srv/herald.yml'], {}, { '/srv/herald.yml': yaml });
    assert.equal(config.host, '127.0.0.1');
    assert.equal(config.port, 9100);
    assert.equal(config.historySize, 5);
    assert.equal(config.historyBytes, 2 * 1024 * 1024);
    assert.equal(config.historyTtlMs, 90 * 60_000);
    assert.equal(config.heartbeatMs, 2500);
    assert.equal(config.queueBytes, 65536);
    assert.equal(config.anonymous, true);
    assert.deepEqual(config.corsOrigins, ['https://a.example', 'http://localhost:3000']);
    assert.deepEqual(config.publishOrigins, ['https://a.example', 'https://b.example']);
    assert.deepEqual(config.limits, {
      maxConnections: 10,
      maxConnectionsPerIp: 2,
      queueBytesPerIp: 16 * 65536,
      maxTopics: 3,
      maxUpdateTopics: 7,
      maxTemplateCost: 128 * 1024,
      maxSubscriptionCost: 1024 * 1024,
      maxTemplateCostPerIp: 8 * 1024 * 1024,
      maxTemplateCostTotal: 128 * 1024 * 1024,
      maxBodyBytes: 4096,
      publishRate: 0.5,
      subscriptionEventsRate: 500,
      headersTimeoutMs: 10_000,
      requestTimeoutMs: 30_000,
      maxSockets: 943_718,
      maxSocketsPerIp: 102,
      idleTimeoutMs: 10_000,
      fdLimit: MANY_FDS,
    });
    assert.equal(config.shutdownGraceMs, 2000);
    assert.equal(config.logLevel, 'silent');
    assert.equal(config.dashboard, true);
  });

  it('reads JSON (by extension, or by content without one)', () => {
    const json = JSON.stringify({ port: 8443, jwtKey: SECRET, subscriptions: true });
    for (const path of ['/etc/herald.json', '/etc/heraldrc']) {
      const { config } = load(['--config', path], {}, { [path]: json });
      assert.equal(config.port, 8443);
      assert.deepEqual(config.publisherKey, { key: SECRET, alg: 'HS256' });
      assert.equal(config.subscriptions, true);
    }
  });

  it('reads an empty file as no options', () => {
    assert.equal(load(['--config', '/e.yaml'], {}, { '/e.yaml': '' }).config.port, 8080);
  });

  it('resolves @key paths in a file against the file’s directory', () => {
    const { config } = load(
      ['--config', '/etc/herald/herald.yaml'],
      {},
      {
        '/etc/herald/herald.yaml': 'jwtKey: "@keys/secret.txt"',
        '/etc/herald/keys/secret.txt': SECRET,
      },
    );
    assert.equal(config.publisherKey?.key, SECRET);
  });

  it('refuses an unknown key, suggesting the right one', () => {
    const error = rejects(
      { argv: ['--config', '/h.yaml'], fs: { '/h.yaml': 'history-size: 5' } },
      '/h.yaml (key "history-size")',
      /unknown key \(did you mean historySize\?\)/,
    );
    assert.equal(error.code, 'UNKNOWN_OPTION');
    rejects({ argv: ['--config', '/h.yaml'], fs: { '/h.yaml': 'config: other.yaml' } }, '"config"');
  });

  it('names the file and key of a bad value', () => {
    const error = rejects(
      { argv: ['--config', '/h.json'], fs: { '/h.json': '{"port": "eighty"}' } },
      '/h.json (key "port")',
      /integer from 0 to 65535/,
    );
    assert.equal(error.code, 'INVALID_VALUE');
    rejects(
      { argv: ['--config', '/h.yaml'], fs: { '/h.yaml': 'corsOrigins: [1, 2]' } },
      '/h.yaml (key "corsOrigins")',
    );
    rejects(
      { argv: ['--config', '/h.yaml'], fs: { '/h.yaml': 'port: 80.5' } },
      '/h.yaml (key "port")',
    );
  });

  it('refuses an unreadable, malformed or non-mapping file', () => {
    const missing = rejects({ argv: ['--config', '/nope.yaml'] }, '--config', /cannot read/);
    assert.equal(missing.code, 'FILE');
    rejects({ env: { HERALD_CONFIG: '/nope.yaml' } }, 'HERALD_CONFIG', /ENOENT/);
    rejects({ argv: ['--config', '/b.json'], fs: { '/b.json': '{"port": ' } }, '--config', /JSON/);
    rejects({ argv: ['--config', '/b.yaml'], fs: { '/b.yaml': 'port: [' } }, '--config', /YAML/);
    rejects(
      { argv: ['--config', '/b.yaml'], fs: { '/b.yaml': '- port\n- 80' } },
      '--config',
      /mapping/,
    );
  });
});

describe('--addr and --port', () => {
  it('reads host:port, :port and [ipv6]:port', () => {
    assert.deepEqual(parseAddr('127.0.0.1:9000'), { host: '127.0.0.1', port: 9000 });
    assert.deepEqual(parseAddr(':8080'), { host: '', port: 8080 });
    assert.deepEqual(parseAddr('[::1]:443'), { host: '::1', port: 443 });
    assert.deepEqual(parseAddr('localhost:0'), { host: 'localhost', port: 0 });
    const { config } = load(['--addr', 'example.internal:1234']);
    assert.equal(config.host, 'example.internal');
    assert.equal(config.port, 1234);
    assert.equal(load(['--addr=:5000']).config.port, 5000);
  });

  it('refuses an address without a port or with a bad one', () => {
    for (const bad of ['localhost', '127.0.0.1:70000', '::1:80', 'host:port', ':']) {
      rejects({ argv: ['--addr', bad] }, '--addr', /host:port, :port or \[ipv6\]:port/);
    }
    rejects({ env: { HERALD_ADDR: 'nope' } }, 'HERALD_ADDR');
  });

  it('a --port from the same or a stronger source overrides the port of --addr', () => {
    let config = load(['--addr', '127.0.0.1:7000', '--port', '9000']).config;
    assert.deepEqual([config.host, config.port], ['127.0.0.1', 9000]);
    config = load(['--addr', ':7000'], { HERALD_PORT: '9000' }).config;
    assert.equal(config.port, 7000, 'the flag --addr beats HERALD_PORT');
    config = load(['--port', '9000'], { HERALD_ADDR: '10.0.0.1:7000' }).config;
    assert.deepEqual([config.host, config.port], ['10.0.0.1', 9000]);
  });

  it('refuses a bad port from each source', () => {
    rejects({ argv: ['--port', '65536'] }, '--port', /from 0 to 65535/);
    rejects({ argv: ['--port', '-1'] }, '--port');
    rejects({ argv: ['--port', '80a'] }, '--port');
    rejects({ env: { HERALD_PORT: 'http' } }, 'HERALD_PORT', /got "http"/);
  });
});

describe('durations and sizes', () => {
  it('reads durations as ms or with units', () => {
    assert.equal(parseDuration('1500'), 1500);
    assert.equal(parseDuration('500ms'), 500);
    assert.equal(parseDuration('10s'), 10_000);
    assert.equal(parseDuration('30m'), 1_800_000);
    assert.equal(parseDuration('1h'), 3_600_000);
    assert.equal(parseDuration('1h30m'), 5_400_000);
    assert.equal(parseDuration('2.5s'), 2500);
    assert.equal(parseDuration('7d'), 604_800_000);
    for (const bad of ['', '1 h', '-5s', '5 minutes', 'h', '1.5', '10sec']) {
      assert.equal(parseDuration(bad), undefined, bad);
    }
    assert.equal(load(['--history-ttl', '1h']).config.historyTtlMs, 3_600_000);
    assert.equal(load(['--heartbeat', '0']).config.heartbeatMs, 0);
    assert.equal(load([], { HERALD_SHUTDOWN_GRACE: '30s' }).config.shutdownGraceMs, 30_000);
  });

  it('refuses a bad duration, naming the source', () => {
    rejects({ argv: ['--history-ttl', '5 minutes'] }, '--history-ttl', /500ms, 30s, 10m, 1h/);
    rejects({ env: { HERALD_HEARTBEAT: 'often' } }, 'HERALD_HEARTBEAT');
    rejects({ argv: ['--heartbeat', '30d'] }, '--heartbeat', /at most 2147483647/);
  });

  it('reads sizes in bytes, decimal and binary units', () => {
    assert.equal(parseBytes('1048576'), 1_048_576);
    assert.equal(parseBytes('16MiB'), 16 * 1024 * 1024);
    assert.equal(parseBytes('500KB'), 500_000);
    assert.equal(parseBytes('1gb'), 1e9);
    assert.equal(parseBytes('64 KiB'), 65_536);
    assert.equal(parseBytes('1TB'), undefined);
    assert.equal(parseBytes('lots'), undefined);
    assert.equal(load(['--max-body-bytes', '64KiB']).config.limits.maxBodyBytes, 65_536);
    rejects({ argv: ['--queue-bytes', '0'] }, '--queue-bytes', /at least 1/);
    rejects({ argv: ['--history-bytes', 'big'] }, '--history-bytes', /16MiB/);
  });
});

describe('--queue-bytes-per-ip', () => {
  it('defaults to 16 queues of --queue-bytes, and takes bytes or 0 (no limit)', () => {
    assert.equal(load(['--queue-bytes', '256KiB']).config.limits.queueBytesPerIp, 4 * 1024 * 1024);
    assert.equal(load(['--queue-bytes-per-ip', '4MiB']).config.limits.queueBytesPerIp, 4 << 20);
    assert.equal(load(['--queue-bytes-per-ip', '0']).config.limits.queueBytesPerIp, 0);
  });

  it('refuses a budget smaller than one queue, naming both flags', () => {
    const error = rejects(
      { argv: ['--queue-bytes', '1MiB', '--queue-bytes-per-ip', '512KiB'] },
      '--queue-bytes-per-ip',
      /less than --queue-bytes.*set 0 for no limit/,
    );
    assert.equal(error.code, 'CONFLICT');
  });
});

describe('flags', () => {
  it('refuses an unknown flag, suggesting the right one', () => {
    const error = rejects({ argv: ['--prot', '80'] }, '--prot', /did you mean --port\?/);
    assert.equal(error.code, 'UNKNOWN_OPTION');
    assert.equal(error.source, '--prot');
    rejects({ argv: ['--jwtkey', 'x'] }, '--jwtkey', /did you mean --jwt-key\?/);
    rejects({ argv: ['--no-port'] }, '--no-port', /unknown option/);
  });

  it('refuses a positional argument and a flag without its value', () => {
    rejects({ argv: ['8080'] }, '"8080"', /unexpected argument/);
    rejects({ argv: ['-p', '8080'] }, '"-p"');
    const error = rejects({ argv: ['--port'] }, '--port', /needs a value/);
    assert.equal(error.code, 'MISSING_VALUE');
    rejects({ argv: ['--jwt-key', '--dev'] }, '--jwt-key', /needs a value/);
  });

  it('reads on/off flags as --name, --no-name and --name=value', () => {
    assert.equal(load(['--anonymous']).config.anonymous, true);
    assert.equal(load(['--anonymous=false']).config.anonymous, false);
    assert.equal(load(['--h2c=yes']).config.h2c, true);
    assert.equal(load(['--no-h2c'], { HERALD_H2C: 'true' }).config.h2c, false);
    assert.equal(load([], { HERALD_SUBSCRIPTIONS: '1' }).config.subscriptions, true);
    rejects({ argv: ['--dev=maybe'] }, '--dev', /true or false/);
    rejects({ argv: ['--no-dev=true'] }, '--no-dev', /takes no value/);
    rejects({ env: { HERALD_ANONYMOUS: 'sure' } }, 'HERALD_ANONYMOUS');
  });

  it('refuses values outside a list of choices', () => {
    rejects({ argv: ['--log-level', 'verbose'] }, '--log-level', /fatal, error, warn/);
    rejects({ argv: ['--jwt-alg', 'none'] }, '--jwt-alg', /HS256/);
  });

  it('refuses limits out of range', () => {
    rejects({ argv: ['--max-topics', '0'] }, '--max-topics', /at least 1/);
    rejects({ argv: ['--publish-rate', '-1'] }, '--publish-rate');
    rejects({ argv: ['--history-size', '1.5'] }, '--history-size');
  });

  it('ignores unknown HERALD_* variables with a notice, suggesting the right one', () => {
    const { notices } = load([], { HERALD_PROT: '80', PATH: '/bin' });
    assert.ok(notices.some((n) => /Ignoring HERALD_PROT.*did you mean HERALD_PORT/.test(n)));
    assert.ok(!notices.some((n) => n.includes('PATH')));
  });

  it('says nothing of the other commands’ variables (the hub URL, a token, herald token’s private keys)', () => {
    const { notices } = load([], {
      HERALD_URL: 'http://localhost:8080',
      HERALD_TOKEN: 'eyJ…',
      HERALD_PRIVATE_KEY: 'private.pem',
      HERALD_PUBLISHER_PRIVATE_KEY: 'publisher.pem',
      HERALD_SUBSCRIBER_PRIVATE_KEY: 'subscriber.pem',
    });
    assert.ok(!notices.some((n) => n.includes('Ignoring')), notices.join('\n'));
  });
});

describe('--trusted-proxies', () => {
  it('reads IPv4 and IPv6 addresses and ranges from a flag, the environment or a file', () => {
    assert.deepEqual(
      load(['--trusted-proxies', '127.0.0.1, 10.0.0.0/8,::1,fd00::/8']).config.trustedProxies,
      ['127.0.0.1', '10.0.0.0/8', '::1', 'fd00::/8'],
    );
    assert.deepEqual(
      load([], { HERALD_TRUSTED_PROXIES: '192.168.0.0/16,::ffff:172.16.0.0/108' }).config
        .trustedProxies,
      ['192.168.0.0/16', '::ffff:172.16.0.0/108'],
    );
    const FILE = '/etc/herald/herald.yaml';
    const { config } = load(
      ['--config', FILE],
      {},
      { [FILE]: 'trustedProxies: [127.0.0.1, "2001:db8::/32"]\n' },
    );
    assert.deepEqual(config.trustedProxies, ['127.0.0.1', '2001:db8::/32']);
  });

  it('accumulates repeated flags, and a flag beats the environment', () => {
    assert.deepEqual(
      load(['--trusted-proxies', '127.0.0.1', '--trusted-proxies', '::1'], {
        HERALD_TRUSTED_PROXIES: '10.0.0.0/8',
      }).config.trustedProxies,
      ['127.0.0.1', '::1'],
    );
  });

  it('refuses an entry that is not an address or a range, naming it and its source', () => {
    for (const bad of [
      'localhost',
      '10.0.0.0/33',
      '::1/129',
      '10.0.0.0/',
      '10.0.0.0/8/8',
      '10.0.0.0/-1',
      '10.0.0.0/ 8',
      '256.1.1.1',
      '1.2.3',
      '01.2.3.4',
      '[::1]',
      'fe80::1%eth0',
      '127.0.0.1:80',
      '*',
    ]) {
      const error = rejects(
        { argv: ['--trusted-proxies', `127.0.0.1,${bad}`] },
        '--trusted-proxies',
      );
      assert.equal(error.code, 'INVALID_VALUE');
      assert.ok(error.message.includes(`"${bad}"`), `names ${bad}: ${error.message}`);
      assert.match(error.message, /10\.0\.0\.0\/8/, 'shows an example');
    }
    rejects(
      { env: { HERALD_TRUSTED_PROXIES: '10.0.0.0/40' } },
      'HERALD_TRUSTED_PROXIES',
      /0 to 32/,
    );
    rejects({ argv: ['--trusted-proxies', 'fd00::/200'] }, '--trusted-proxies', /0 to 128/);
    rejects(
      { env: { HERALD_CONFIG: '/h.json' }, fs: { '/h.json': '{"trustedProxies": ["nope"]}' } },
      '/h.json (key "trustedProxies")',
      /"nope"/,
    );
    rejects(
      { env: { HERALD_CONFIG: '/h.json' }, fs: { '/h.json': '{"trustedProxies": [1]}' } },
      '/h.json (key "trustedProxies")',
    );
  });

  it('warns when a range trusts every address', () => {
    const { notices } = load(['--jwt-key', SECRET, '--trusted-proxies', '10.0.0.0/8,0.0.0.0/0']);
    assert.equal(notices.length, 1);
    assert.match(notices[0]!, /--trusted-proxies: 0\.0\.0\.0\/0 trusts every address/);
    assert.deepEqual(load(['--jwt-key', SECRET, '--trusted-proxies', '10.0.0.0/8']).notices, []);
  });
});

describe('origins, engine and URLs', () => {
  it('normalizes origins and refuses what is not one', () => {
    assert.deepEqual(
      load(['--cors-origins', 'HTTPS://App.Example.com:443/, http://localhost:3000']).config
        .corsOrigins,
      ['https://app.example.com', 'http://localhost:3000'],
    );
    assert.deepEqual(load(['--cors-origins', '*']).config.corsOrigins, ['*']);
    assert.deepEqual(load(['--publish-origins', '*']).config.publishOrigins, ['*']);
    rejects({ argv: ['--cors-origins', 'https://a.example/path'] }, '--cors-origins', /no path/);
    rejects({ argv: ['--cors-origins', 'example.com'] }, '--cors-origins', /scheme:\/\/host/);
    rejects(
      { argv: ['--cors-origins', '*,https://a.example'] },
      '--cors-origins',
      /cannot be combined/,
    );
    rejects({ env: { HERALD_PUBLISH_ORIGINS: 'https://u:p@a.example' } }, 'HERALD_PUBLISH_ORIGINS');
    rejects({ argv: ['--cors-origins', 'https://a.example?x=1'] }, '--cors-origins');
  });

  it('accepts memory:, redis:// and nats:// engine URLs, and nothing else', () => {
    assert.equal(load([]).config.engine, 'memory:');
    assert.equal(load(['--engine', 'redis://cache:6379/0']).config.engine, 'redis://cache:6379/0');
    assert.equal(load(['--engine', 'rediss://cache']).config.engine, 'rediss://cache');
    assert.equal(load(['--engine', 'nats://n1:4222']).config.engine, 'nats://n1:4222');
    for (const url of [
      'redis+sentinel://s1:26379,s2:26379/main',
      'redis+cluster://a:7000,b:7001',
    ]) {
      assert.equal(load(['--engine', url]).config.engine, url);
    }
    rejects({ argv: ['--engine', 'redis+cluster://'] }, '--engine', /expected memory:/);
    rejects({ argv: ['--engine', 'kafka://k:9092'] }, '--engine', /unknown engine "kafka:"/);
    rejects({ argv: ['--engine', 'mem'] }, '--engine', /expected memory:/);
    assert.equal(load(['--engine', 'memory']).config.engine, 'memory:');
    rejects({ env: { HERALD_ENGINE: 'redis://' } }, 'HERALD_ENGINE', /needs a host/);
  });

  it('accepts only http(s) JWKS URLs', () => {
    const url = 'https://idp.example/.well-known/jwks.json';
    const { config, notices } = load(['--jwks-url', url]);
    assert.equal(config.jwksUrl, url);
    assert.ok(!notices.some((n) => n.includes('No publisher key')));
    rejects({ argv: ['--jwks-url', 'ftp://idp.example/jwks'] }, '--jwks-url', /http/);
    rejects({ argv: ['--jwks-url', 'not a url'] }, '--jwks-url');
  });
});

describe('JWT keys', () => {
  it('--jwt-key fills the publisher and the subscriber key, with --jwt-alg', () => {
    const { config } = load(['--jwt-key', SECRET, '--jwt-alg', 'HS512']);
    assert.deepEqual(config.publisherKey, { key: SECRET, alg: 'HS512' });
    assert.deepEqual(config.subscriberKey, { key: SECRET, alg: 'HS512' });
    const fromEnv = load([], { HERALD_JWT_KEY: SECRET }).config;
    assert.deepEqual(fromEnv.subscriberKey, { key: SECRET, alg: 'HS256' });
  });

  it('specific keys and algorithms win over --jwt-key from the same source', () => {
    const other = 'another-shared-secret-of-32-bytes-or-more';
    const { config } = load([
      '--jwt-key',
      SECRET,
      '--publisher-jwt-key',
      other,
      '--subscriber-jwt-alg',
      'HS384',
    ]);
    assert.deepEqual(config.publisherKey, { key: other, alg: 'HS256' });
    assert.deepEqual(config.subscriberKey, { key: SECRET, alg: 'HS384' });
  });

  it('a --jwt-key from a stronger source beats a specific key from a weaker one', () => {
    const { config } = load(['--jwt-key', SECRET], {
      HERALD_PUBLISHER_JWT_KEY: 'env-secret-env-secret-env-secret-env',
      HERALD_PUBLISHER_JWT_ALG: 'HS512',
    });
    assert.deepEqual(config.publisherKey, { key: SECRET, alg: 'HS256' });
  });

  it('reads @file keys and inline PEM, and checks the key fits the algorithm', () => {
    const { publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const pem = publicKey.export({ type: 'spki', format: 'pem' }).toString();
    const fromFile = load(
      ['--jwt-key', '@/keys/rsa.pem', '--jwt-alg', 'RS256'],
      {},
      {
        '/keys/rsa.pem': pem,
      },
    ).config;
    assert.deepEqual(fromFile.publisherKey, { key: pem, alg: 'RS256' });
    const inline = load([], {
      HERALD_SUBSCRIBER_JWT_KEY: pem.replaceAll('\n', '\\n'),
      HERALD_SUBSCRIBER_JWT_ALG: 'RS256',
    }).config;
    assert.equal(inline.subscriberKey?.alg, 'RS256');
    assert.equal(inline.publisherKey, undefined);
    assert.equal(
      load(['--jwt-key', '@@literal-at-secret-that-is-32-bytes']).config.publisherKey?.key,
      '@literal-at-secret-that-is-32-bytes',
    );

    rejects({ argv: ['--jwt-key', pem] }, '--jwt-key', /PEM key.*HS256.*default of --jwt-alg/);
    rejects({ argv: ['--jwt-key', SECRET, '--jwt-alg', 'ES256'] }, '--jwt-key', /ES256/);
    const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const ecPem = ec.publicKey.export({ type: 'spki', format: 'pem' }).toString();
    rejects(
      { argv: ['--publisher-jwt-key', ecPem, '--publisher-jwt-alg', 'RS256'] },
      '--publisher-jwt-key',
    );
    assert.equal(
      load(['--jwt-key', ecPem, '--jwt-alg', 'ES256']).config.publisherKey?.alg,
      'ES256',
    );
  });

  it('refuses an unreadable key file, naming the source', () => {
    const error = rejects(
      { argv: ['--jwt-key', '@/missing.pem'] },
      '--jwt-key',
      /cannot read \/missing.pem/,
    );
    assert.equal(error.code, 'FILE');
    rejects({ env: { HERALD_PUBLISHER_JWT_KEY: '@/missing.pem' } }, 'HERALD_PUBLISHER_JWT_KEY');
  });

  it('warns about a short HMAC secret', () => {
    const { notices } = load(['--jwt-key', 'short']);
    assert.equal(notices.filter((n) => /5 bytes.*at least 32/.test(n)).length, 1);
  });
});

describe('--dev', () => {
  it('allows anonymous subscribers, turns the dashboard on and generates a key for publishers and subscribers', async () => {
    const { config, notices, devToken } = load(['--dev']);
    assert.equal(config.dev, true);
    assert.equal(config.anonymous, true);
    assert.equal(config.dashboard, true);
    assert.equal(config.publisherKey?.alg, 'HS256');
    assert.deepEqual(config.subscriberKey, config.publisherKey, 'the printed token subscribes too');
    const secret = config.publisherKey!.key;
    assert.match(secret, /^[A-Za-z0-9_-]{43}$/, '32 random bytes, base64url');
    assert.notEqual(load(['--dev']).config.publisherKey?.key, secret, 'a new key every run');

    assert.ok(devToken);
    const notice = notices.find((n) => n.includes(devToken));
    assert.ok(notice, 'the token is printed');
    assert.ok(notice.includes(`curl -H 'Authorization: Bearer ${devToken}'`));
    assert.ok(notice.includes(`${HUB_URL_PLACEHOLDER}/.well-known/mercure`));
    assert.ok(
      notice.includes(`curl -N -H 'Authorization: Bearer ${devToken}'`),
      'a private subscription',
    );
    assert.ok(!notices.some((n) => /No subscriber key/.test(n)));

    const { payload, protectedHeader } = await jwtVerify(
      devToken,
      new TextEncoder().encode(secret),
      { algorithms: ['HS256'] },
    );
    assert.deepEqual(protectedHeader, { alg: 'HS256', typ: 'JWT' });
    assert.deepEqual(payload, { mercure: { publish: ['*'], subscribe: ['*'] } });
    await assert.rejects(jwtVerify(devToken, new TextEncoder().encode(`${secret}x`)));
  });

  it('createDevToken signs HS256 with the secret’s UTF-8 bytes', async () => {
    const token = createDevToken(SECRET);
    assert.equal(decodeProtectedHeader(token).alg, 'HS256');
    await jwtVerify(token, new TextEncoder().encode(SECRET));
  });

  it('uses a configured publisher key instead of generating one', () => {
    const { config, devToken, notices } = load(['--dev', '--jwt-key', SECRET]);
    assert.equal(devToken, undefined);
    assert.deepEqual(config.publisherKey, { key: SECRET, alg: 'HS256' });
    assert.deepEqual(config.subscriberKey, { key: SECRET, alg: 'HS256' });
    assert.ok(!notices.some((n) => n.includes('Bearer')));
  });

  it('keeps a configured subscriber key (or JWKS) for subscribers; the generated key then only publishes', () => {
    const own = load(['--dev', '--subscriber-jwt-key', SECRET]);
    assert.deepEqual(own.config.subscriberKey, { key: SECRET, alg: 'HS256' });
    assert.notEqual(own.config.publisherKey?.key, SECRET);
    assert.ok(own.notices.some((n) => /Publisher JWT for this terminal/.test(n)));
    const jwks = load(['--dev', '--jwks-url', 'https://auth.example/jwks.json']);
    assert.equal(jwks.config.subscriberKey, undefined);
    assert.ok(!jwks.notices.some((n) => /Private updates/.test(n)));
  });

  it('listens on localhost (127.0.0.1 and ::1) unless an address is given', () => {
    assert.equal(load(['--dev']).config.host, 'localhost');
    assert.equal(load(['--dev', '--port', '9000']).config.host, 'localhost');
    assert.equal(load(['--dev']).config.devPublisherKey, true);
    assert.equal(load(['--dev', '--jwt-key', SECRET]).config.devPublisherKey, false);
    assert.equal(load([]).config.host, '', 'outside dev mode: every interface, as before');
    const open = load(['--dev', '--addr', ':8080']);
    assert.equal(open.config.host, '');
    assert.ok(
      open.notices.some((n) => /every interface.*anyone who can reach.*publish/.test(n)),
      'a warning when dev mode is reachable from elsewhere',
    );
    assert.equal(load([], { HERALD_DEV: 'true', HERALD_ADDR: '0.0.0.0:1' }).config.host, '0.0.0.0');
    const loopback = load(['--dev', '--addr', '127.0.0.1:8080']);
    assert.equal(loopback.config.host, '127.0.0.1');
    assert.ok(!loopback.notices.some((n) => /anyone who can reach/.test(n)));
  });

  it('--dev-token-ttl sets the lifetime of the dashboard page token', () => {
    assert.equal(load(['--dev', '--dev-token-ttl', '2m']).config.devTokenTtlMs, 120_000);
    rejects({ argv: ['--dev-token-ttl', '10ms'] }, '--dev-token-ttl', /from 1000 to/);
  });

  it('lets explicit settings win over what --dev turns on', () => {
    const { config } = load(['--dev', '--no-dashboard'], { HERALD_ANONYMOUS: 'false' });
    assert.equal(config.dashboard, false);
    assert.equal(config.anonymous, false);
    assert.equal(load([], { HERALD_DEV: 'true' }).config.dashboard, true);
  });
});

describe('the dashboard outside dev mode', () => {
  it('takes --dashboard-credentials user:password, inline or from a file', () => {
    assert.equal(
      load(['--dashboard', '--dashboard-credentials', 'ops:s3cret:with:colons']).config
        .dashboardCredentials,
      'ops:s3cret:with:colons',
    );
    const files = { '/etc/herald/dashboard': 'ops:from-file\n' };
    const fromFile = load(['--dashboard-credentials', '@/etc/herald/dashboard'], {}, files);
    assert.equal(fromFile.config.dashboardCredentials, 'ops:from-file');
    rejects(
      { argv: ['--dashboard-credentials', 'no-colon'] },
      '--dashboard-credentials',
      /user:password/,
    );
    rejects(
      { argv: ['--dashboard-credentials', 'ops:'] },
      '--dashboard-credentials',
      /user:password/,
    );
  });

  it('says when nothing can open it', () => {
    const notice = /dashboard needs authentication outside dev mode, and nothing can open it/;
    assert.ok(load(['--dashboard']).notices.some((n) => notice.test(n)));
    assert.ok(!load(['--dashboard', '--jwt-key', SECRET]).notices.some((n) => notice.test(n)));
    assert.ok(
      !load(['--dashboard', '--dashboard-credentials', 'a:b']).notices.some((n) => notice.test(n)),
    );
  });
});

describe('TLS', () => {
  const skip = opensslSkipReason();
  let a: SelfSignedCert;
  let b: SelfSignedCert;
  before(async () => {
    if (skip) return;
    a = await createSelfSignedCert();
    b = await createSelfSignedCert();
  });
  after(async () => {
    await a?.cleanup();
    await b?.cleanup();
  });

  it('checks the files and keeps their absolute paths', { skip }, () => {
    const { config } = loadConfig({
      argv: ['--tls-cert', `${a.dir}/cert.pem`, '--tls-key', `${a.dir}/key.pem`],
    });
    assert.deepEqual(config.tls, { cert: `${a.dir}/cert.pem`, key: `${a.dir}/key.pem` });
  });

  it('resolves file paths from a config file against its directory', { skip }, () => {
    const { config } = loadConfig({
      argv: [],
      env: { HERALD_CONFIG: `${a.dir}/herald.yaml` },
      readFile: (path) =>
        path === `${a.dir}/herald.yaml`
          ? 'tlsCert: cert.pem\ntlsKey: ./key.pem\n'
          : files({ [`${a.dir}/cert.pem`]: a.cert, [`${a.dir}/key.pem`]: a.key })(path),
    });
    assert.deepEqual(config.tls, { cert: `${a.dir}/cert.pem`, key: `${a.dir}/key.pem` });
  });

  it('refuses a certificate without its key, and the other way round', () => {
    const error = rejects({ argv: ['--tls-cert', '/c.pem'] }, '--tls-cert', /--tls-key is not/);
    assert.equal(error.code, 'CONFLICT');
    rejects({ env: { HERALD_TLS_KEY: '/k.pem' } }, 'HERALD_TLS_KEY', /--tls-cert is not/);
  });

  it('refuses unreadable, non-PEM and mismatched files', { skip }, () => {
    rejects(
      {
        argv: ['--tls-cert', '/no/cert.pem', '--tls-key', `${a.dir}/key.pem`],
        readFile: undefined,
      },
      '--tls-cert',
      /cannot read \/no\/cert.pem/,
    );
    const fs = {
      '/a/cert.pem': a.cert,
      '/a/key.pem': a.key,
      '/b/key.pem': b.key,
      '/junk.pem': 'hello',
    };
    rejects(
      { argv: ['--tls-cert', '/junk.pem', '--tls-key', '/a/key.pem'], fs },
      '--tls-cert',
      /not a PEM certificate/,
    );
    rejects(
      { argv: ['--tls-cert', '/a/cert.pem', '--tls-key', '/junk.pem'], fs },
      '--tls-key',
      /private key/,
    );
    rejects(
      { argv: ['--tls-cert', '/a/cert.pem', '--tls-key', '/b/key.pem'], fs },
      '--tls-key',
      /does not belong to the certificate/,
    );
    rejects(
      { argv: ['--tls-cert', '/a/cert.pem', '--tls-key', '/a/key.pem', '--h2c'], fs },
      '--h2c',
      /cleartext/,
    );
  });
});

describe('--history-topic', () => {
  it('reads <selector>=<events>[,<bytes>] from flags, the environment and a file', () => {
    assert.deepEqual(
      load(['--history-topic', '/ticks/{id,x}=500,1MiB', '--history-topic=/a?b={c}=3']).config
        .historyTopics,
      [
        { selector: '/ticks/{id,x}', maxEvents: 500, maxBytes: 1024 * 1024 },
        { selector: '/a?b={c}', maxEvents: 3, maxBytes: undefined },
      ],
      'split at the last "=", commas and "=" belong to the selector',
    );
    assert.deepEqual(
      load([], { HERALD_HISTORY_TOPIC: '/x=1 https://example.com/{y}=2,1KB' }).config.historyTopics,
      [
        { selector: '/x', maxEvents: 1, maxBytes: undefined },
        { selector: 'https://example.com/{y}', maxEvents: 2, maxBytes: 1000 },
      ],
    );
    const FILE = '/etc/herald/herald.yaml';
    const { config } = load(
      ['--config', FILE],
      {},
      { [FILE]: 'historyTopic: ["/.well-known/mercure/subscriptions/{+rest}=100"]\n' },
    );
    assert.deepEqual(config.historyTopics, [
      {
        selector: '/.well-known/mercure/subscriptions/{+rest}',
        maxEvents: 100,
        maxBytes: undefined,
      },
    ]);
  });

  it('refuses a malformed entry, naming it and its source', () => {
    rejects({ argv: ['--history-topic', '/ticks'] }, '--history-topic', /<selector>=<events>/);
    rejects({ argv: ['--history-topic', '/ticks=many'] }, '--history-topic', /<selector>=<events>/);
    rejects({ argv: ['--history-topic', '/ticks=5,lots'] }, '--history-topic', /not a size/);
    rejects(
      { argv: ['--history-topic', '/ticks=5,1KB,3'] },
      '--history-topic',
      /<selector>=<events>/,
    );
    rejects(
      { argv: ['--history-topic', '/ticks/{id=5'] },
      '--history-topic',
      /not a topic selector/,
    );
    rejects({ env: { HERALD_HISTORY_TOPIC: '=5' } }, 'HERALD_HISTORY_TOPIC', /<selector>=<events>/);
  });
});
