import assert from 'node:assert/strict';
import { type AddressInfo, connect, createServer } from 'node:net';
import { networkInterfaces } from 'node:os';
import { after, before, describe, test } from 'node:test';
import { decodeJwt } from 'jose';
import { type HeraldServer, startServer } from '../../src/server/app.js';
import { loadConfig } from '../../src/server/config.js';
import { chromiumSkipReason, launchChromium } from '../helpers/chromium.js';
import { assertError, http, publish } from '../helpers/hub-server.js';

// `herald serve --dev`: on localhost only (127.0.0.1 and ::1, whichever localhost resolves
// to), never on the machine's other addresses; the dashboard page carries a short-lived
// publisher token, minted per view and renewed by the page; and its dashboard answers only
// requests addressed to localhost (a DNS-rebinding page cannot read the token).

async function startDev(flags: string[] = []): Promise<HeraldServer> {
  const { config } = loadConfig({
    argv: ['--dev', '--port', '0', '--log-level', 'silent', ...flags],
    env: {},
  });
  return startServer(config);
}

/** Whether this machine can listen on ::1. */
async function hasIpv6Loopback(): Promise<boolean> {
  const probe = createServer();
  return new Promise((resolve) => {
    probe.once('error', () => resolve(false));
    probe.listen(0, '::1', () => probe.close(() => resolve(true)));
  });
}

/** The machine's addresses other than loopback. */
function otherAddresses(): string[] {
  return Object.values(networkInterfaces())
    .flat()
    .filter((a) => a !== undefined && !a.internal)
    .map((a) => a!.address);
}

/** Connects to host:port; resolves with the error code, or 'connected'. */
function tryConnect(host: string, port: number): Promise<string> {
  return new Promise((resolve) => {
    const socket = connect({ host, port, timeout: 2000 });
    socket.once('connect', () => {
      socket.destroy();
      resolve('connected');
    });
    socket.once('timeout', () => {
      socket.destroy();
      resolve('timeout');
    });
    socket.once('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? 'error'));
  });
}

/** The configuration the page carries (a JSON data block its script reads). */
function pageConfig(html: string): {
  publisherToken: string;
  tokenPath: string;
  tokenTtlMs: number;
  dev: boolean;
} {
  const json = /<script type="application\/json" id="dashboard-config">([^<]*)<\/script>/.exec(
    html,
  )?.[1];
  assert.ok(json !== undefined, 'the page has its configuration block');
  return JSON.parse(json);
}

describe('herald serve --dev', () => {
  let server: HeraldServer;
  let port: number;
  before(async () => {
    server = await startDev();
    port = (server.server.address() as AddressInfo).port;
  });
  after(() => server.close(1000));

  test('listens on localhost only: 127.0.0.1 and ::1, not the other addresses', async (t) => {
    assert.equal(server.url, `http://localhost:${port}`);
    assert.equal((server.server.address() as AddressInfo).address, '127.0.0.1');
    assert.equal((await fetch(`http://127.0.0.1:${port}/healthz`)).status, 200);
    if (await hasIpv6Loopback()) {
      assert.equal((await fetch(`http://[::1]:${port}/healthz`)).status, 200);
      const page = await http(`http://[::1]:${port}/`);
      assert.equal(page.status, 200, 'the dashboard on ::1 (Host [::1]) too');
    } else {
      t.diagnostic('no IPv6 loopback on this machine: ::1 not checked');
    }
    assert.equal((await fetch(`${server.url}/healthz`)).status, 200, 'http://localhost works');
    const others = otherAddresses();
    if (others.length === 0) t.diagnostic('no non-loopback address on this machine');
    for (const address of others) {
      const outcome = await tryConnect(address, port);
      assert.notEqual(outcome, 'connected', `${address}:${port} must not answer`);
    }
  });

  test('the page carries a short-lived publish-only token; the page renews it', async () => {
    const page = await http(`${server.url}/`);
    assert.equal(page.status, 200);
    assert.equal(page.headers['cache-control'], 'no-store');
    const config = pageConfig(page.body);
    assert.equal(config.dev, true);
    assert.equal(config.tokenPath, '/dashboard/token');
    assert.equal(config.tokenTtlMs, 600_000);
    const claims = decodeJwt(config.publisherToken);
    assert.deepEqual(claims.mercure, { publish: ['*'] }, 'it may publish, nothing more');
    assert.equal(Number(claims.exp) - Number(claims.iat), 600, '--dev-token-ttl 10m');
    assert.ok(Math.abs(Number(claims.iat) - Date.now() / 1000) < 60, 'minted for this view');
    assert.equal(
      (await publish(server.url, { topic: '/dev', data: 'x' }, config.publisherToken)).status,
      200,
    );

    const renewed = await http(`${server.url}/dashboard/token`, { method: 'POST' });
    assert.equal(renewed.status, 200);
    assert.equal(renewed.headers['cache-control'], 'no-store');
    const fresh = JSON.parse(renewed.body) as { token: string; expiresIn: number };
    assert.equal(fresh.expiresIn, 600);
    assert.equal(
      (await publish(server.url, { topic: '/dev', data: 'y' }, fresh.token)).status,
      200,
    );
    const get = await http(`${server.url}/dashboard/token`);
    assertError({ ...get, contentType: get.headers['content-type'] }, 405, /use POST/);
  });

  test('answers its dashboard only to requests addressed to localhost (DNS rebinding)', async () => {
    for (const host of [
      'localhost',
      `localhost:${port}`,
      `127.0.0.1:${port}`,
      `[::1]:${port}`,
      `app.localhost:${port}`,
      'localhost.',
    ]) {
      const page = await http(`http://127.0.0.1:${port}/`, { headers: { host } });
      assert.equal(page.status, 200, host);
    }
    for (const [method, path] of [
      ['GET', '/'],
      ['POST', '/dashboard/token'],
      ['GET', '/dashboard/stats'],
    ] as const) {
      for (const host of [`evil.example:${port}`, 'localhost.evil.example', '10.0.0.1']) {
        const res = await http(`http://127.0.0.1:${port}${path}`, { method, headers: { host } });
        assertError(
          { ...res, contentType: res.headers['content-type'] },
          403,
          /addressed to localhost only/,
        );
        assert.doesNotMatch(res.body, /eyJ/, 'no token in the refusal');
      }
    }
    // The hub itself (subscribe, publish, health) answers any host name as before.
    const health = await http(`http://127.0.0.1:${port}/healthz`, {
      headers: { host: 'evil.example' },
    });
    assert.equal(health.status, 200);
  });

  test('with a configured publisher key the page carries no token and has no token route', async () => {
    const keyed = await startDev(['--jwt-key', 'herald-test-secret-that-is-long-enough-for-hs256']);
    try {
      const config = pageConfig((await http(`${keyed.url}/`)).body);
      assert.equal(config.publisherToken, '');
      assert.equal(config.tokenPath, '');
      assert.equal((await http(`${keyed.url}/dashboard/token`, { method: 'POST' })).status, 404);
    } finally {
      await keyed.close(1000);
    }
  });
});

describe('the dev token expires; a page left open keeps publishing', () => {
  const skip = chromiumSkipReason();
  let server: HeraldServer;
  before(async () => {
    server = await startDev(['--dev-token-ttl', '1s']);
  });
  after(() => server.close(1000));

  test('an old page token is refused after its exp; the open page renews its own', {
    skip,
  }, async () => {
    const browser = await launchChromium();
    try {
      const page = await browser.newPage();
      const errors: string[] = [];
      page.on('pageerror', (error) => errors.push(error.message));
      await page.goto(`${server.url}/`);
      const copied = pageConfig(await page.content()).publisherToken;
      assert.equal(Number(decodeJwt(copied).exp) - Number(decodeJwt(copied).iat), 1);
      // Past its exp and the hub's 5 s clock leeway.
      await new Promise((resolve) => setTimeout(resolve, 7000));
      const late = await publish(server.url, { topic: '/dev', data: 'late' }, copied);
      assert.equal(late.status, 401);
      assert.match(await late.text(), /expired/);

      await page.fill('#publish-topics', '/dev/open-page');
      await page.fill('#publish-data', 'still here');
      await page.click('#publish-submit');
      await page.waitForSelector('#publish-id');
      assert.equal(await page.getAttribute('#publish-result', 'data-state'), 'ok');
      assert.deepEqual(errors, []);
    } finally {
      await browser.close();
    }
  });
});
