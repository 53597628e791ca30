// `herald/client/browser` type-checks: a browser project (DOM lib, no Node types) that imports
// the bundle by its package name compiles with tsc, under `bundler` and `nodenext` module
// resolution, and the types are real (a misuse is an error). The package is laid out as npm
// would install it: package.json, the declarations tsc emits for src/client, and the bundle's
// own declaration file from the build script.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { writeBrowserTypes } from '../../scripts/build-client-bundle.mjs';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const TSC = join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
const project = mkdtempSync(join(tmpdir(), 'herald-browser-types-'));
const pkg = join(project, 'node_modules', 'herald');
after(() => rmSync(project, { recursive: true, force: true }));

/** Runs tsc with `args`; resolves with its exit code and output. */
async function tsc(args: string[]): Promise<{ code: number | null; output: string }> {
  const child = spawn(process.execPath, [TSC, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    output += chunk;
  });
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
    output += chunk;
  });
  const [code] = (await once(child, 'exit')) as [number | null];
  return { code, output };
}

/** Writes `value` as JSON to `path`. */
function writeJson(path: string, value: unknown): void {
  writeFileSync(path, `${JSON.stringify(value, null, 2)}\n`);
}

const APP = `import {
  EventSource,
  HeraldClientError,
  type HeraldEvent,
  subscribe,
  subscribeHub,
} from 'herald/client/browser';

interface Quote {
  symbol: string;
  price: number;
}

const sub = subscribe<{ tick: Quote }>('/quotes', { json: true, reconnect: 'never' });
sub.on('tick', (quote, event: HeraldEvent<'tick', Quote>) => {
  const price: number = quote.price;
  console.log(price, event.lastEventId);
});
const source = new EventSource('/events', { withCredentials: true });
source.onmessage = (event) => {
  const data: string = event.data;
  console.log(data, source.readyState === EventSource.OPEN);
};
subscribeHub('/.well-known/mercure', { topics: ['/books/{id}'], token: () => 'jwt' }).close();
export const reasonOf = (error: unknown): string | undefined =>
  error instanceof HeraldClientError ? error.reason : undefined;

sub.on('tick', (quote) => {
  // @ts-expect-error -- the types are real: a price is a number
  const wrong: string = quote.price;
  console.log(wrong);
});
`;

before(async () => {
  mkdirSync(pkg, { recursive: true });
  copyFileSync(join(ROOT, 'package.json'), join(pkg, 'package.json'));
  // The declarations `npm run build` writes for src/client (and what it imports), checked
  // without Node's types: the client is web-platform only.
  writeJson(join(project, 'tsconfig.emit.json'), {
    extends: join(ROOT, 'tsconfig.json'),
    compilerOptions: {
      rootDir: join(ROOT, 'src'),
      outDir: join(pkg, 'dist'),
      noEmit: false,
      declaration: true,
      emitDeclarationOnly: true,
      sourceMap: false,
      types: [],
    },
    include: [],
    files: [join(ROOT, 'src', 'client', 'index.ts')],
  });
  const emitted = await tsc(['-p', join(project, 'tsconfig.emit.json')]);
  assert.equal(emitted.code, 0, emitted.output);
  await writeBrowserTypes(join(pkg, 'dist'));
  writeFileSync(join(project, 'app.ts'), APP);
  writeJson(join(project, 'package.json'), { name: 'app', private: true, type: 'module' });
});

describe('herald/client/browser types', () => {
  for (const resolution of ['bundler', 'nodenext'] as const) {
    test(`an import type-checks in a browser project (moduleResolution ${resolution})`, async () => {
      const config = join(project, `tsconfig.${resolution}.json`);
      writeJson(config, {
        compilerOptions: {
          target: 'ES2022',
          module: resolution === 'bundler' ? 'ESNext' : 'NodeNext',
          moduleResolution: resolution,
          lib: ['ES2022', 'DOM', 'DOM.Iterable'],
          types: [],
          strict: true,
          noEmit: true,
          skipLibCheck: false,
        },
        files: ['app.ts'],
      });
      const { code, output } = await tsc(['-p', config]);
      assert.equal(code, 0, output);
    });
  }
});
