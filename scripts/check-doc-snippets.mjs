#!/usr/bin/env node
// The docs' servers, pasted into a fresh project as a new user would: packs Herald (npm pack),
// installs the tarball and the frameworks into a temporary project, writes each documented
// server snippet there as it is written (only its port changed to a free one), runs it, and
// sends it bad requests — no topic, an empty one, a malformed Last-Event-ID, an empty publish.
// Each server must answer every request with a status (a refused subscription: 400 with the
// reason) and keep running; a good request must still get an event stream afterwards.
//
// Usage: node scripts/check-doc-snippets.mjs [--no-build] [--keep]
//   --no-build   use dist/ as it is (default: npm run build first)
//   --keep       leave the temporary project in place (its path is printed)
// Exit code 0 when every snippet passed, 1 otherwise.
import { execFileSync, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const args = new Set(process.argv.slice(2));
const FRAMEWORKS = [
  'tsx',
  'express',
  'compression',
  'koa',
  'koa-compress',
  'fastify',
  '@fastify/compress',
  'hono',
  '@hono/node-server',
];

/**
 * The documented servers: where each is (a file and text its code block contains), the port it
 * listens on as written, and the requests to send. `expect` is the status a request must get
 * (`'stream'`: 200 with text/event-stream), `reason` what its body must say; without `expect`
 * any answer below 500 will do, as long as the server lives on.
 */
const SNIPPETS = [
  {
    name: 'docs/hub.md: createHub on node:http',
    file: 'docs/hub.md',
    contains: "hub.subscribe(req, res, { topics: url.searchParams.getAll('topic') })",
    port: 8080,
    requests: [
      { path: '/events', expect: 400, reason: /topic selector/ },
      { path: '/events?topic=', expect: 400, reason: /topic selector/ },
      { path: '/events?topic=/clock&topic=', expect: 400 },
      {
        path: '/events?topic=/clock',
        headers: { 'last-event-id': 'no-such-id' },
        expect: 'stream',
      },
      { path: '/events?topic=/clock&lastEventID=%FF', expect: 'stream' },
      { path: '/nothing', expect: 404 },
      { path: '/events?topic=/clock', expect: 'stream' },
    ],
  },
  {
    name: 'docs/event-stream.md: createEventStream on node:http',
    file: 'docs/event-stream.md',
    contains: 'const stream = createEventStream(req, res, { heartbeatMs: 15_000 });',
    port: 8080,
    requests: [
      { path: '/', headers: { 'last-event-id': 'abc' }, expect: 'stream' },
      { path: '/', headers: { 'last-event-id': '1e999' }, expect: 'stream' },
      { path: '/', headers: { 'last-event-id': '-5' }, expect: 'stream' },
      { path: '/', method: 'POST', body: 'x', expect: 'stream' },
      { path: '/', expect: 'stream' },
    ],
  },
  {
    name: 'README.md: createEventStream',
    file: 'README.md',
    contains: 'const stream = createEventStream(req, res); // headers, initial comment',
    port: 8080,
    requests: [
      { path: '/anything?x=%', expect: 'stream' },
      { path: '/', method: 'HEAD' },
      { path: '/', expect: 'stream' },
    ],
  },
  ...['express', 'koa', 'fastify', 'hono'].map((framework) => ({
    name: `docs/adapters.md: ${framework}`,
    file: 'docs/adapters.md',
    contains: `from 'herald/adapters/${framework}'`,
    port: 3000,
    requests: [
      { path: '/events?topic=', expect: 400, reason: /topic selector/ },
      {
        path: '/events?topic=/chat/lobby',
        headers: { 'last-event-id': 'bogus' },
        expect: 'stream',
      },
      {
        path: '/publish?topic=',
        method: 'POST',
        body: 'x',
        contentType: 'text/plain',
        expect: 400,
        reason: /non-empty string/,
      },
      { path: '/publish', method: 'POST' },
      { path: '/publish', method: 'POST', body: '{"not":"text"}', contentType: 'application/json' },
      { path: '/clock', expect: 'stream' },
      { path: '/events?topic=/chat/lobby', expect: 'stream' },
    ],
  })),
];

function log(line) {
  process.stdout.write(`${line}\n`);
}

/** The code block of `file` that contains `text`, or a thrown error naming what is missing. */
function codeBlock(file, text) {
  const source = readFileSync(join(ROOT, file), 'utf8');
  for (const match of source.matchAll(/```(?:ts|js)\n([\s\S]*?)```/g)) {
    if (match[1].includes(text)) return match[1];
  }
  throw new Error(`${file}: no code block contains ${JSON.stringify(text)}`);
}

/** A port nobody listens on right now. */
function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

/** Sends one request; resolves with its status and the start of its body. */
async function send(port, request) {
  const controller = new AbortController();
  const headers = { ...request.headers };
  if (request.contentType) headers['content-type'] = request.contentType;
  const res = await fetch(`http://127.0.0.1:${port}${request.path}`, {
    method: request.method ?? 'GET',
    headers,
    body: request.body,
    // A server that never answers is a failure, not a wait of undici's 5 minutes.
    signal: AbortSignal.any([controller.signal, AbortSignal.timeout(10_000)]),
  });
  const type = res.headers.get('content-type') ?? '';
  let text = '';
  if (res.body === null) {
    // HEAD (or a status without a body): the headers are the answer.
    controller.abort();
  } else if (type.startsWith('text/event-stream')) {
    // A stream: its first bytes, then hang up.
    const reader = res.body.getReader();
    const { value } = await Promise.race([
      reader.read(),
      new Promise((resolve) => setTimeout(() => resolve({ value: undefined }), 3000)),
    ]);
    text = new TextDecoder().decode(value ?? new Uint8Array());
    controller.abort();
  } else {
    text = await res.text();
  }
  return { status: res.status, type, text };
}

/** Resolves once something accepts TCP connections on `port`. */
function accepts(port) {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

async function waitListening(port, child, output) {
  for (let i = 0; i < 600; i++) {
    if (child.exitCode !== null) throw new Error(`exited with ${child.exitCode}:\n${output()}`);
    if (await accepts(port)) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`did not listen within a minute:\n${output()}`);
}

async function checkSnippet(project, snippet) {
  const port = await freePort();
  const code = codeBlock(snippet.file, snippet.contains)
    .replaceAll(`listen(${snippet.port})`, `listen(${port})`)
    .replaceAll(`port: ${snippet.port}`, `port: ${port}`);
  if (!code.includes(String(port)))
    throw new Error(`cannot find the port ${snippet.port} to change`);
  const file = join(project, `${snippet.name.replace(/[^a-z0-9]+/gi, '-')}.ts`);
  writeFileSync(file, code);
  const child = spawn(process.execPath, ['--import', 'tsx', file], {
    cwd: project,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (chunk) => (output += chunk));
  child.stderr.on('data', (chunk) => (output += chunk));
  const problems = [];
  const answers = [];
  try {
    await waitListening(port, child, () => output);
    for (const request of snippet.requests) {
      const what = `${request.method ?? 'GET'} ${request.path}${request.headers ? ` ${JSON.stringify(request.headers)}` : ''}`;
      let answer;
      try {
        answer = await send(port, request);
      } catch (error) {
        problems.push(`${what}: no answer (${error.cause?.message ?? error.message})`);
        continue;
      }
      const stream = answer.status === 200 && answer.type.startsWith('text/event-stream');
      answers.push(`${what} → ${answer.status}${stream ? ' stream' : ''}`);
      if (request.expect === 'stream' && !stream) {
        problems.push(
          `${what}: expected an event stream, got ${answer.status} ${answer.text.slice(0, 200)}`,
        );
      } else if (typeof request.expect === 'number' && answer.status !== request.expect) {
        problems.push(
          `${what}: expected ${request.expect}, got ${answer.status} ${answer.text.slice(0, 200)}`,
        );
      }
      if (request.reason !== undefined && !request.reason.test(answer.text)) {
        problems.push(`${what}: the 400 does not say why: ${answer.text.slice(0, 200)}`);
      }
      if (answer.status >= 500) {
        problems.push(
          `${what}: ${answer.status} (a server error for a client's mistake): ${answer.text.slice(0, 200)}`,
        );
      }
      if (child.exitCode !== null) {
        problems.push(`${what}: the server died (exit ${child.exitCode})`);
        break;
      }
    }
  } catch (error) {
    problems.push(error.message);
  } finally {
    child.kill('SIGKILL');
  }
  return { answers, problems, output };
}

async function main() {
  if (!args.has('--no-build')) {
    log('npm run build');
    execFileSync('npm', ['run', 'build'], { cwd: ROOT, stdio: 'inherit' });
  }
  const work = mkdtempSync(join(tmpdir(), 'herald-doc-snippets-'));
  const started = Date.now();
  try {
    const packed = execFileSync(
      'npm',
      ['pack', '--ignore-scripts', '--silent', '--pack-destination', work],
      { cwd: ROOT, encoding: 'utf8' },
    )
      .trim()
      .split('\n')
      .at(-1);
    const tarball = join(work, packed);
    const project = join(work, 'app');
    mkdirSync(project);
    writeFileSync(
      join(project, 'package.json'),
      `${JSON.stringify({ name: 'docs-snippets', private: true, type: 'module' }, null, 2)}\n`,
    );
    log(`npm install ${packed} ${FRAMEWORKS.join(' ')} (in ${project})`);
    execFileSync(
      'npm',
      ['install', '--no-audit', '--no-fund', '--prefer-offline', tarball, ...FRAMEWORKS],
      { cwd: project, stdio: ['ignore', 'ignore', 'inherit'] },
    );
    let failed = 0;
    for (const snippet of SNIPPETS) {
      const { answers, problems } = await checkSnippet(project, snippet);
      log(`\n${problems.length === 0 ? 'ok  ' : 'FAIL'} ${snippet.name}`);
      for (const answer of answers) log(`       ${answer}`);
      for (const problem of problems) log(`     ✗ ${problem}`);
      if (problems.length > 0) failed++;
    }
    log(
      `\n${SNIPPETS.length - failed} of ${SNIPPETS.length} snippets passed in ${Math.round((Date.now() - started) / 1000)} s`,
    );
    if (args.has('--keep')) log(`kept ${work}`);
    process.exitCode = failed === 0 ? 0 : 1;
  } finally {
    if (!args.has('--keep')) rmSync(work, { recursive: true, force: true });
  }
}

await main();
