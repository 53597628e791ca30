#!/usr/bin/env node
// Every TypeScript / JavaScript code block of README.md and docs/*.md, pasted into a fresh
// project as a new user would: packs Herald (npm pack), installs the tarball, the frameworks,
// TypeScript and the type packages into a temporary project, and there
//   - type-checks every block against the installed tarball's types (strict), one file each;
//     a block that uses names of the reader's own app (render, a token function, the hub made
//     in an earlier block) says so in an HTML comment right before its fence,
//       <!-- snippet: given
//       declare function render(quote: Quote): void;
//       -->
//     whose code is put before the block (for the type check and for a run); a block that is
//     not a program (pseudo-code, one line of a larger app) is marked
//     `<!-- snippet: fragment -->` and only parsed;
//   - runs each documented server (only its port changed to a free one) and sends it bad
//     requests — no topic, an empty one, a malformed Last-Event-ID, an empty publish. Each
//     server must answer every request with a status (a refused subscription: 400 with the
//     reason) and keep running; a good request must still get an event stream afterwards;
//   - runs the client blocks against a hub started from the tarball (`herald serve --dev` on a
//     free port; only the URL in the block changed), publishes events to it (`herald publish`
//     and an HTTP POST) and checks that the block prints what the doc says;
//   - runs the NATS engine's block against a nats-server on a free port (skipped when there is
//     no nats-server);
//   - parses the JSON blocks.
// The runs go two at a time (each on its own port); the build and the install of the other
// packages overlap. It lists every block with what was checked (parsed / typed / ran), the
// result, and how long each phase and run took.
//
// Usage: node scripts/check-doc-snippets.mjs [--no-build] [--keep]
//   --no-build   use dist/ as it is (default: npm run build first)
//   --keep       leave the temporary project in place (its path is printed)
// Exit code 0 when every block passed, 1 otherwise.
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const args = new Set(process.argv.slice(2));
const NODE_MAJOR = process.versions.node.split('.')[0];
const PACKAGES = [
  'tsx',
  'express',
  'compression',
  'koa',
  'koa-compress',
  'fastify',
  '@fastify/compress',
  'hono',
  '@hono/node-server',
  'react',
  // What a TypeScript user adds to type-check the blocks.
  'typescript',
  `@types/node@${NODE_MAJOR}`,
  '@types/express',
  '@types/compression',
  '@types/koa',
  '@types/koa-compress',
  '@types/react',
];

/** The compiler options the blocks are checked with: strict, as a new TypeScript project. */
const COMPILER_OPTIONS = {
  target: 'ES2022',
  module: 'NodeNext',
  moduleResolution: 'NodeNext',
  moduleDetection: 'force',
  lib: ['ES2022', 'DOM', 'DOM.Iterable'],
  types: ['node'],
  strict: true,
  noUncheckedIndexedAccess: true,
  skipLibCheck: true,
  jsx: 'react-jsx',
  noEmit: true,
};

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

/** Every process this script started, killed at its end whatever happened. */
const children = new Set();

/** `spawn`, remembered in `children` until it exits. */
function started(command, argv, options) {
  const child = spawn(command, argv, options);
  children.add(child);
  child.once('exit', () => children.delete(child));
  return child;
}

function log(line) {
  process.stdout.write(`${line}\n`);
}

/**
 * The client blocks that run against the hub: the block (text its code contains), the URL in it
 * that becomes the hub's, the updates to publish (again every half second until the output
 * has everything: the block may connect after the first one), and what the output must show.
 */
const CLIENT_RUNS = [
  {
    file: 'docs/client.md',
    contains: "import { EventSource, subscribe, subscribeHub } from 'herald/client';",
    exits: true,
    expect: [],
  },
  {
    file: 'README.md',
    contains: "import { createParser, encodeEvent } from 'herald/protocol';",
    exits: true,
    expect: [/^greeting hello\nworld 1$/m],
  },
  {
    file: 'docs/client.md',
    contains: "new EventSource('https://example.com/events'",
    url: ['https://example.com/events', '/.well-known/mercure?topic=/prices'],
    publish: [
      { topic: '/prices', type: 'price', data: '{"symbol":"HRLD","price":42}', cli: true },
      { topic: '/prices', data: 'hello' },
    ],
    expect: [
      /^open$/m,
      /^render \{ symbol: 'HRLD', price: 42 \}$/m,
      /^hello \S+ http:\/\/127\.0\.0\.1:\d+$/m,
    ],
  },
  {
    file: 'docs/client.md',
    contains: "subscribe<{ tick: Quote; halt: { symbol: string } }>('https://api.example/quotes'",
    url: ['https://api.example/quotes', '/.well-known/mercure?topic=/quotes'],
    publish: [
      { topic: '/quotes', type: 'tick', data: '{"symbol":"HRLD","price":42}' },
      { topic: '/quotes', type: 'halt', data: '{"symbol":"HRLD"}', cli: true },
    ],
    expect: [/^render \{ symbol: 'HRLD', price: 42 \}$/m, /^pause HRLD$/m],
  },
];

/** The NATS engine's block: run against a nats-server, which must then hold its stream. */
const NATS_RUN = {
  file: 'docs/engines.md',
  contains: "import { natsEngine } from 'herald/engines/nats';",
  url: 'nats://nats.internal:4222',
  stream: 'chat',
};

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

async function checkSnippet(project, snippet, block) {
  const port = await freePort();
  const code = (block.given + block.code)
    .replaceAll(`listen(${snippet.port})`, `listen(${port})`)
    .replaceAll(`port: ${snippet.port}`, `port: ${port}`);
  if (!code.includes(String(port)))
    throw new Error(`cannot find the port ${snippet.port} to change`);
  const file = block.path.replace(/\.ts$/, '.run.ts');
  writeFileSync(file, code);
  const child = started(process.execPath, ['--import', 'tsx', file], {
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

/** Every ts / tsx / js / json code block of README.md and docs/*.md, with its marker if any. */
function docBlocks() {
  const files = [
    'README.md',
    ...readdirSync(join(ROOT, 'docs'))
      .filter((name) => name.endsWith('.md'))
      .sort()
      .map((name) => `docs/${name}`),
  ];
  const blocks = [];
  for (const file of files) {
    const lines = readFileSync(join(ROOT, file), 'utf8').split('\n');
    for (let i = 0; i < lines.length; i++) {
      const fence = /^```(ts|tsx|js|json)\s*$/.exec(lines[i]);
      if (fence === null) continue;
      const end = lines.findIndex((line, j) => j > i && line.startsWith('```'));
      if (end === -1) throw new Error(`${file}:${i + 1}: the code block never ends`);
      blocks.push({
        file,
        line: i + 1,
        lang: fence[1],
        code: `${lines.slice(i + 1, end).join('\n')}\n`,
        ...marker(lines, i),
      });
      i = end;
    }
  }
  return blocks;
}

/** The `<!-- snippet: … -->` comment that ends on the line before a fence, parsed. */
function marker(lines, fence) {
  if (!lines[fence - 1]?.trim().endsWith('-->')) return { kind: 'program', given: '' };
  let start = fence - 1;
  while (start > 0 && !lines[start].includes('<!--')) start--;
  const comment = /<!--\s*snippet:\s*([\s\S]*?)-->/.exec(lines.slice(start, fence).join('\n'));
  if (comment === null) return { kind: 'program', given: '' };
  const text = comment[1].trim();
  if (text === 'fragment') return { kind: 'fragment', given: '' };
  if (text.startsWith('given')) return { kind: 'program', given: `${text.slice(5).trim()}\n` };
  throw new Error(`line ${start + 1}: unknown snippet marker ${JSON.stringify(text)}`);
}

/** The names a `given` declares, for the report. */
function givenNames(given) {
  const names = [];
  for (const match of given.matchAll(
    /^(?:declare\s+)?(?:const|let|function|interface|type|class)\s+([A-Za-z_$][\w$]*)/gm,
  ))
    names.push(match[1]);
  for (const match of given.matchAll(/^import\s+(?:type\s+)?\{([^}]*)\}/gm))
    names.push(...match[1].split(',').map((name) => name.trim().replace(/^type\s+/, '')));
  return names.filter(Boolean);
}

/** The file a block is written to in the project, given code first. */
function blockFile(project, block) {
  const ext = block.lang === 'tsx' ? 'tsx' : 'ts';
  return join(
    project,
    'snippets',
    `${block.file.replace(/[^a-z0-9]+/gi, '-')}-${block.line}.${ext}`,
  );
}

/**
 * Type-checks the blocks with the project's `tsc` (one program: every block is a module of its
 * own); fragments with `noCheck`, which reports only what does not parse. Puts each error on
 * its block, at the doc's line, and what was checked in `block.checked`.
 */
function typeCheck(project, blocks) {
  const code = blocks.filter((block) => block.lang !== 'json');
  const runs = [
    { kind: 'program', options: {}, checked: 'typed' },
    {
      kind: 'fragment',
      options: { noCheck: true },
      checked: 'parsed (fragment: not type-checked, not run)',
    },
  ];
  for (const run of runs) {
    const mine = code.filter((block) => block.kind === run.kind);
    if (mine.length === 0) continue;
    const config = join(project, `tsconfig.${run.kind}.json`);
    writeFileSync(
      config,
      JSON.stringify({
        compilerOptions: { ...COMPILER_OPTIONS, ...run.options },
        files: mine.map((block) => block.path),
      }),
    );
    const result = spawnSync(
      join(project, 'node_modules', '.bin', 'tsc'),
      ['-p', config, '--pretty', 'false'],
      {
        cwd: project,
        encoding: 'utf8',
      },
    );
    const output = `${result.stdout}${result.stderr}`;
    const byPath = new Map(mine.map((block) => [relative(project, block.path), block]));
    let current;
    for (const line of output.split('\n')) {
      const error = /^(.+?)\((\d+),\d+\): error (TS\d+: .*)$/.exec(line);
      if (error !== null) {
        current = byPath.get(error[1]);
        if (current === undefined) throw new Error(`tsc, outside the blocks:\n${output}`);
        const at = Number(error[2]) - 1;
        const givenLines = current.given === '' ? 0 : current.given.split('\n').length - 1;
        const where =
          at < givenLines ? 'in its given code' : `line ${current.line + 1 + at - givenLines}`;
        current.problems.push(`${where}: ${error[3]}`);
      } else if (current !== undefined && /^\s/.test(line)) {
        current.problems[current.problems.length - 1] += `\n${line}`;
      } else if (line.trim() !== '') {
        throw new Error(`tsc: ${output}`);
      }
    }
    if (result.status !== 0 && mine.every((block) => block.problems.length === 0))
      throw new Error(`tsc exited with ${result.status}:\n${output}`);
    for (const block of mine) block.checked.push(run.checked);
  }
  for (const block of blocks.filter((candidate) => candidate.lang === 'json')) {
    try {
      JSON.parse(block.code);
    } catch (error) {
      block.problems.push(`not JSON: ${error.message}`);
    }
    block.checked.push('parsed');
  }
}

/** Runs `command` to its end, or until `done(output)`; resolves with its output and exit code. */
function runUntil(command, argv, { cwd, env, done, timeoutMs, onTick }) {
  return new Promise((resolve) => {
    const child = started(command, argv, {
      cwd,
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    let finished = false;
    const finish = (code) => {
      if (finished) return;
      finished = true;
      clearInterval(tick);
      clearTimeout(timer);
      if (child.exitCode === null) child.kill('SIGKILL');
      resolve({ output, code, timedOut: code === 'timeout' });
    };
    const check = () => {
      if (done?.(output)) finish('done');
    };
    child.stdout.on('data', (chunk) => {
      output += chunk;
      check();
    });
    child.stderr.on('data', (chunk) => (output += chunk));
    child.once('exit', (code) => setTimeout(() => finish(code), 50));
    const tick = setInterval(() => Promise.resolve(onTick?.()).then(check), 500);
    const timer = setTimeout(() => finish('timeout'), timeoutMs);
  });
}

/** A hub from the installed tarball: `herald serve --dev` on a free port. */
async function startHub(project) {
  const port = await freePort();
  const child = started(
    join(project, 'node_modules', '.bin', 'herald'),
    ['serve', '--dev', '--port', String(port), '--log-level', 'warn'],
    { cwd: project, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let output = '';
  child.stdout.on('data', (chunk) => (output += chunk));
  child.stderr.on('data', (chunk) => (output += chunk));
  try {
    await waitListening(port, child, () => output);
    for (let i = 0; i < 100 && !/\beyJ[\w-]+\.[\w-]+\.[\w-]+/.test(output); i++)
      await new Promise((resolve) => setTimeout(resolve, 100));
    const token = /\b(eyJ[\w-]+\.[\w-]+\.[\w-]+)/.exec(output)?.[1];
    if (token === undefined) throw new Error(`no dev token printed:\n${output}`);
    return { url: `http://127.0.0.1:${port}`, token, stop: () => child.kill('SIGKILL') };
  } catch (error) {
    child.kill('SIGKILL');
    throw error;
  }
}

/** Publishes one update: with `herald publish` or as an HTTP form POST, as the docs show both. */
async function publish(project, hub, update) {
  if (update.cli) {
    const argv = ['publish', '--url', hub.url, '--token', hub.token];
    if (update.type) argv.push('--type', update.type);
    await sh(
      join(project, 'node_modules', '.bin', 'herald'),
      [...argv, update.topic, update.data],
      {
        stdio: ['ignore', 'ignore', 'pipe'],
      },
    );
    return;
  }
  const body = new URLSearchParams({ topic: update.topic, data: update.data });
  if (update.type) body.set('type', update.type);
  const res = await fetch(`${hub.url}/.well-known/mercure`, {
    method: 'POST',
    headers: { authorization: `Bearer ${hub.token}` },
    body,
  });
  if (!res.ok) throw new Error(`POST /.well-known/mercure: ${res.status} ${await res.text()}`);
}

/** Runs a client block against the hub; pushes problems to the block. */
async function runClient(project, hub, block, run) {
  let code = block.given + block.code;
  if (run.url) {
    if (!code.includes(run.url[0])) throw new Error(`cannot find the URL ${run.url[0]} to change`);
    code = code.replaceAll(run.url[0], `${hub.url}${run.url[1]}`);
  }
  const path = block.path.replace(/\.tsx?$/, '.run.ts');
  writeFileSync(path, code);
  const shown = (output) => run.expect.every((pattern) => pattern.test(output));
  let publishing; // one round of updates at a time: a slow `herald publish` makes no queue
  const errors = [];
  const result = await runUntil(process.execPath, ['--import', 'tsx', path], {
    cwd: project,
    env: { HERALD_TOKEN: hub.token },
    done: run.exits ? undefined : shown,
    timeoutMs: 20_000,
    onTick: () => {
      publishing ??= (async () => {
        for (const update of run.publish ?? []) {
          await publish(project, hub, update).catch((error) => errors.push(error.message));
        }
        publishing = undefined;
      })();
    },
  });
  await publishing;
  const problems = [...new Set(errors)];
  if (run.exits && result.code !== 0) problems.push(`exited with ${result.code}`);
  for (const pattern of run.expect) {
    if (!pattern.test(result.output)) problems.push(`did not print ${pattern}`);
  }
  if (problems.length > 0) problems.push(`its output:\n${result.output.trimEnd() || '(none)'}`);
  block.problems.push(...problems);
  block.checked.push(
    run.publish ? `ran against the hub (${run.publish.length} kinds of updates published)` : 'ran',
  );
}

/** Runs the NATS block against a nats-server on a free port, if there is one. */
async function runNats(project, work, block) {
  const which = spawnSync('nats-server', ['--version']);
  if (which.error) {
    block.checked.push('not run (no nats-server: skipped)');
    return;
  }
  const [port, monitor] = [await freePort(), await freePort()];
  const server = started(
    'nats-server',
    [
      '-js',
      '-a',
      '127.0.0.1',
      '-p',
      String(port),
      '-m',
      String(monitor),
      '-sd',
      join(work, 'nats'),
    ],
    { stdio: 'ignore' },
  );
  try {
    await waitListening(port, server, () => 'nats-server');
    const code = (block.given + block.code).replaceAll(NATS_RUN.url, `nats://127.0.0.1:${port}`);
    if (!code.includes(String(port))) throw new Error(`cannot find ${NATS_RUN.url} to change`);
    const path = block.path.replace(/\.ts$/, '.run.ts');
    writeFileSync(path, code);
    let streams = [];
    const result = await runUntil(process.execPath, ['--import', 'tsx', path], {
      cwd: project,
      done: () => streams.includes(NATS_RUN.stream),
      timeoutMs: 20_000,
      onTick: async () => {
        const res = await fetch(`http://127.0.0.1:${monitor}/jsz?accounts=true&streams=true`).catch(
          () => null,
        );
        const body = res && (await res.json());
        streams = (body?.account_details ?? []).flatMap((account) =>
          (account.stream_detail ?? []).map((stream) => stream.name),
        );
      },
    });
    if (result.code !== 'done')
      block.problems.push(
        `the NATS server never held the stream ${NATS_RUN.stream} (${result.code}):\n${result.output}`,
      );
    block.checked.push(`ran against nats-server (stream ${NATS_RUN.stream} created)`);
  } finally {
    server.kill('SIGKILL');
  }
}

function blockFor(blocks, file, text) {
  const block = blocks.find(
    (candidate) => candidate.file === file && candidate.code.includes(text),
  );
  if (block === undefined)
    throw new Error(`${file}: no code block contains ${JSON.stringify(text)}`);
  return block;
}

/** Adds the time its run took to what a block's report says about the run. */
function timed(block, start) {
  block.checked[block.checked.length - 1] += ` in ${((Date.now() - start) / 1000).toFixed(1)} s`;
}

/** Runs a command to its end without blocking the event loop; rejects when it fails. */
function sh(command, argv, options) {
  return new Promise((resolve, reject) => {
    const child = started(command, argv, options);
    child.once('error', reject);
    child.once('exit', (code) =>
      code === 0 ? resolve() : reject(new Error(`${command} ${argv.join(' ')}: exit ${code}`)),
    );
  });
}

async function main() {
  const work = mkdtempSync(join(tmpdir(), 'herald-doc-snippets-'));
  const started = Date.now();
  let lap = started;
  const took = () => {
    const seconds = ((Date.now() - lap) / 1000).toFixed(1);
    lap = Date.now();
    return `${seconds} s`;
  };
  const hubs = [];
  try {
    const blocks = docBlocks().map((block) => ({ ...block, checked: [], problems: [] }));
    // Every block a run needs is there before anything is installed.
    const servers = SNIPPETS.map((snippet) => [
      snippet,
      blockFor(blocks, snippet.file, snippet.contains),
    ]);
    const clients = CLIENT_RUNS.map((run) => [run, blockFor(blocks, run.file, run.contains)]);
    const natsBlock = blockFor(blocks, NATS_RUN.file, NATS_RUN.contains);
    const project = join(work, 'app');
    mkdirSync(join(project, 'snippets'), { recursive: true });
    writeFileSync(
      join(project, 'package.json'),
      `${JSON.stringify({ name: 'docs-snippets', private: true, type: 'module' }, null, 2)}\n`,
    );
    const install = ['install', '--no-audit', '--no-fund', '--prefer-offline'];
    const quiet = { cwd: project, stdio: ['ignore', 'ignore', 'inherit'] };
    // The build and the other packages' install at once (one waits on the CPU, the other mostly
    // on the disk and the network); then the tarball of what was built.
    const build = args.has('--no-build')
      ? undefined
      : sh('npm', ['run', 'build', '--silent'], { cwd: ROOT, stdio: 'inherit' });
    if (build) log('npm run build');
    log(`npm install ${PACKAGES.join(' ')} (in ${project})`);
    await Promise.all([build, sh('npm', [...install, ...PACKAGES], quiet)]);
    log(`  ${build ? 'built and installed' : 'installed'} in ${took()}`);
    const packed = execFileSync(
      'npm',
      ['pack', '--ignore-scripts', '--silent', '--pack-destination', work],
      { cwd: ROOT, encoding: 'utf8' },
    )
      .trim()
      .split('\n')
      .at(-1);
    log(`npm install ${packed}`);
    await sh('npm', [...install, join(work, packed)], quiet);
    log(`  installed in ${took()}`);
    for (const block of blocks) {
      block.path = blockFile(project, block);
      if (block.lang !== 'json') writeFileSync(block.path, block.given + block.code);
    }

    log('type-checking the blocks');
    typeCheck(project, blocks);
    log(`  type-checked in ${took()}`);
    log('running the servers, the client blocks against a hub, the NATS block');

    const hub = await startHub(project);
    hubs.push(hub);
    const runs = [
      ...servers.map(([snippet, block]) => async () => {
        const start = Date.now();
        const { answers, problems, output } = await checkSnippet(project, snippet, block);
        block.problems.push(...problems);
        if (problems.length > 0)
          block.problems.push(
            `its output (the end):\n${output.trimEnd().split('\n').slice(-20).join('\n')}`,
          );
        block.checked.push(`ran as a server: ${answers.length} requests answered`);
        timed(block, start);
      }),
      ...clients.map(([run, block]) => async () => {
        const start = Date.now();
        await runClient(project, hub, block, run);
        timed(block, start);
      }),
      async () => {
        const start = Date.now();
        await runNats(project, work, natsBlock);
        timed(natsBlock, start);
      },
    ];
    // Two at a time: each block has its own port, files and expectations.
    const next = async () => {
      for (let run = runs.shift(); run !== undefined; run = runs.shift()) await run();
    };
    await Promise.all([next(), next()]);
    log(`  ran in ${took()}`);

    let failed = 0;
    log('');
    for (const block of blocks) {
      const ok = block.problems.length === 0;
      if (!ok) failed++;
      const given = givenNames(block.given);
      log(
        `${ok ? 'ok  ' : 'FAIL'} ${block.file}:${block.line} (${block.lang})  ${block.checked.join(', ')}${given.length > 0 ? `; given: ${given.join(', ')}` : ''}`,
      );
      for (const problem of block.problems) log(`     ✗ ${problem.replaceAll('\n', '\n       ')}`);
    }
    const count = (word) =>
      blocks.filter((block) => block.checked.some((c) => c.startsWith(word))).length;
    log(
      `\n${blocks.length - failed} of ${blocks.length} code blocks passed (${count('typed')} type-checked, ${count('ran')} run, ${blocks.filter((block) => block.kind === 'fragment').length} fragments only parsed) in ${Math.round((Date.now() - started) / 1000)} s`,
    );
    if (args.has('--keep')) log(`kept ${work}`);
    process.exitCode = failed === 0 ? 0 : 1;
  } finally {
    for (const hub of hubs) hub.stop();
    for (const child of children) child.kill('SIGKILL');
    if (!args.has('--keep')) rmSync(work, { recursive: true, force: true });
  }
}

await main();
