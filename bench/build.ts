/**
 * Compiles the bench's child-process entries (the generator worker and the minimal peer
 * servers) with esbuild into `node_modules/.cache/herald-bench/`, so that they run as plain
 * JavaScript, the way an application ships.
 *
 * Why not run them through tsx like the orchestrator: tsx compiles with esbuild's `keepNames`,
 * which wraps every function in an object literal or variable in `__name(fn, "…")`, an
 * `Object.defineProperty` that turns the function into a dictionary-mode object with its own
 * ~256-byte property table. Herald's per-connection closures then cost memory and time that no
 * real deployment pays (measured: ~2.8 KB more heap per idle subscriber). Packages stay external
 * and load from node_modules as they are published; Herald's own `src/` is bundled into the
 * herald-embedded server (the same code `tsc` emits to dist/, without type annotations).
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const BENCH = fileURLToPath(new URL('.', import.meta.url));
const OUT = join(BENCH, '..', 'node_modules', '.cache', 'herald-bench');

/** Paths of the compiled entries. */
export interface BenchEntries {
  worker: string;
  servers: { 'herald-embedded': string; 'better-sse': string; naive: string };
}

/** Compiles the entries (about a second) and returns where they are. */
export async function buildBenchEntries(): Promise<BenchEntries> {
  mkdirSync(OUT, { recursive: true });
  const entries = {
    worker: join(BENCH, 'generator', 'worker.ts'),
    'herald-embedded': join(BENCH, 'peers', 'servers', 'herald-embedded.ts'),
    'better-sse': join(BENCH, 'peers', 'servers', 'better-sse.ts'),
    naive: join(BENCH, 'peers', 'servers', 'naive-express.ts'),
  };
  await build({
    entryPoints: entries,
    outdir: OUT,
    outExtension: { '.js': '.mjs' },
    bundle: true,
    packages: 'external',
    platform: 'node',
    format: 'esm',
    target: 'node20',
    sourcemap: 'linked',
    logLevel: 'warning',
  });
  const at = (name: string): string => join(OUT, `${name}.mjs`);
  return {
    worker: at('worker'),
    servers: {
      'herald-embedded': at('herald-embedded'),
      'better-sse': at('better-sse'),
      naive: at('naive'),
    },
  };
}
