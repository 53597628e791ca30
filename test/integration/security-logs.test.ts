// Security review: secrets never reach the logs. The real `herald serve` process runs at the
// most verbose level while tokens travel every way Mercure allows (Authorization header,
// `authorization` query parameter, `mercureAuthorization` cookie), valid and forged, on every
// route; then its whole output is searched for the tokens, their signatures and the key.
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { Writable } from 'node:stream';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { SignJWT } from 'jose';
import { createLogger, REDACTED, redactUrl } from '../../src/server/logger.js';
import { withTimeout } from '../helpers/async.js';
import { cliEnv } from '../helpers/cli-env.js';
import { HUB, http } from '../helpers/hub-server.js';
import { openStream } from '../helpers/sse.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const SECRET = 'log-test-secret-0123456789-abcdefghijklmnopqrstuvwxyz';

function sign(claim: Record<string, unknown>, secret = SECRET): Promise<string> {
  return new SignJWT({ mercure: claim })
    .setProtectedHeader({ alg: 'HS256' })
    .setIssuedAt()
    .sign(new TextEncoder().encode(secret));
}

/** Starts `herald serve` with `args`; resolves with its URL and its growing output. */
async function serve(
  args: string[],
): Promise<{ url: string; child: ChildProcess; output: () => string }> {
  const env = cliEnv();
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli.ts', 'serve', ...args], {
    cwd: ROOT,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const started = new Promise<string>((resolve, reject) => {
    const onData = (chunk: string): void => {
      output += chunk;
      const match = /Herald hub listening on (\S+)/.exec(output);
      if (match?.[1] !== undefined) resolve(match[1]);
    };
    child.stdout?.setEncoding('utf8').on('data', onData);
    child.stderr?.setEncoding('utf8').on('data', onData);
    child.once('exit', (code) => reject(new Error(`herald serve exited with ${code}: ${output}`)));
  });
  const url = await withTimeout(started, 'herald serve to listen', 20_000);
  return { url, child, output: () => output };
}

/** Opens an event stream, failing unless the hub answers 200; returns its request. */
async function openStreamOk(url: string, headers: Record<string, string>) {
  const opened = await openStream(url, headers);
  assert.equal(opened.res.statusCode, 200, `${url} answered ${opened.res.statusCode}`);
  return opened.req;
}

describe('secrets never reach the logs', () => {
  test('herald serve --log-level trace: no token, signature or key in its output', async () => {
    const { url, child, output } = await serve([
      '--addr',
      '127.0.0.1:0',
      '--jwt-key',
      SECRET,
      '--log-level',
      'trace',
      '--subscriptions',
      '--cors-origins',
      'https://app.example',
    ]);
    const publisher = await sign({ publish: ['*'], subscribe: ['*'] });
    const subscriber = await sign({ subscribe: ['*'], payload: { user: 'ada' } });
    const forged = await sign(
      { publish: ['*'] },
      'not-the-secret-but-just-as-long-as-the-real-one',
    );
    const tokens = [publisher, subscriber, forged];
    try {
      const topic = encodeURIComponent('/logs/{id}');
      // Subscribe with each token placement; valid ones open a stream (logged at debug).
      const streams = [
        await openStreamOk(`${url}${HUB}?topic=${topic}`, {
          authorization: `Bearer ${subscriber}`,
        }),
        await openStreamOk(`${url}${HUB}?topic=${topic}&authorization=${subscriber}`, {}),
        await openStreamOk(`${url}${HUB}?topic=${topic}`, {
          cookie: `mercureAuthorization=${subscriber}`,
        }),
      ];
      // Refused ones, every way.
      for (const token of [forged, `${subscriber}x`, 'not.a.jwt']) {
        await http(`${url}${HUB}?topic=${topic}&authorization=${encodeURIComponent(token)}`);
        await http(`${url}${HUB}?topic=${topic}`, {
          headers: { authorization: `Bearer ${token}` },
        });
        await http(`${url}${HUB}?topic=${topic}`, {
          headers: { cookie: `mercureAuthorization=${token}` },
        });
      }
      // Publishing: valid, forged, by query, by cookie from an allowed and a foreign origin,
      // malformed bodies, the JSON endpoint, the subscriptions API.
      const form = 'topic=/logs/1&data=hello';
      const formHeaders = { 'content-type': 'application/x-www-form-urlencoded' };
      for (const token of tokens) {
        await http(`${url}${HUB}`, {
          method: 'POST',
          headers: { ...formHeaders, authorization: `Bearer ${token}` },
          body: form,
        });
        await http(`${url}${HUB}?authorization=${token}`, {
          method: 'POST',
          headers: formHeaders,
          body: form,
        });
        for (const origin of ['https://app.example', 'https://evil.example']) {
          await http(`${url}${HUB}`, {
            method: 'POST',
            headers: { ...formHeaders, origin, cookie: `mercureAuthorization=${token}` },
            body: form,
          });
        }
        await http(`${url}${HUB}`, {
          method: 'POST',
          headers: { ...formHeaders, authorization: `Bearer ${token}` },
          body: 'topic=/logs/1&retry=soon&id=%0Abad',
        });
        await http(`${url}/publish?authorization=${token}`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: '{"topic": "/logs/2", "data": {"a": 1}}',
        });
        await http(`${url}${HUB}/subscriptions?authorization=${token}`);
        await http(`${url}${HUB}?authorization=${token}`, { method: 'OPTIONS' });
      }
      for (const stream of streams) stream.destroy();
      await new Promise((resolve) => setTimeout(resolve, 200));
    } finally {
      child.kill('SIGTERM');
      await once(child, 'exit');
    }
    const text = output();
    // The run did log: connects, publishes and refusals at debug/trace level.
    assert.match(text, /"msg":"subscribe"/, 'subscribe lines at debug level');
    assert.match(text, /"msg":"publish"/, 'publish lines at debug level');
    for (const token of tokens) {
      const [, payload, signature] = token.split('.');
      assert.ok(!text.includes(signature!), 'a token signature appears in the logs');
      assert.ok(!text.includes(payload!), 'a token payload appears in the logs');
    }
    assert.ok(!text.includes(SECRET), 'the key appears in the output');
  });

  test('the logger masks credentials whatever a log call passes', () => {
    let written = '';
    const sink = new Writable({
      write(chunk: Buffer, _encoding, done) {
        written += chunk.toString();
        done();
      },
    });
    const logger = createLogger('trace', sink);
    logger.info(
      {
        url: '/.well-known/mercure?topic=/a&authorization=aaa.bbb.ccc&x=1',
        req: {
          method: 'GET',
          url: '/.well-known/mercure?Authorization=ddd.eee.fff',
          headers: { authorization: 'Bearer ggg.hhh.iii', cookie: 'mercureAuthorization=jjj' },
        },
        headers: { authorization: 'Bearer kkk', cookie: 'mercureAuthorization=lll' },
        token: 'mmm.nnn.ooo',
        identity: { token: 'ppp.qqq.rrr' },
      },
      'a careless log line',
    );
    for (const secret of ['aaa.bbb.ccc', 'ddd.eee.fff', 'ggg', 'jjj', 'kkk', 'lll', 'mmm', 'ppp']) {
      assert.ok(!written.includes(secret), `${secret} leaked: ${written}`);
    }
    assert.ok(written.includes(REDACTED));
    assert.match(written, /topic=\/a&authorization=\[redacted\]&x=1/);
    assert.equal(redactUrl('/a?topic=x'), '/a?topic=x');
  });
});
