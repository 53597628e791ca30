/** Where the bundle is written: dist/client.browser.js. */
export declare const BUNDLE_PATH: string;

/** Where the shared mode's worker script is written: dist/client.shared-worker.js. */
export declare const SHARED_WORKER_PATH: string;

/** The source of the shared mode's worker script: src/client/shared-worker.ts. */
export declare const SHARED_WORKER_ENTRY: string;

/** What a build produced. */
export interface ClientBundle {
  /** The bundle's source. */
  code: string;
  /** Its size minified, in bytes. */
  minBytes: number;
  /** Its size minified and gzipped (level 9), in bytes. */
  gzipBytes: number;
}

/**
 * Bundles src/client/index.ts (or `entry`) for browsers: ESM, minified; writes it to `outfile`
 * (default dist/client.browser.js), with its types next to it, when `write` is true.
 */
export declare function buildClientBundle(options?: {
  write?: boolean;
  entry?: string;
  outfile?: string;
}): Promise<ClientBundle>;

/** One shape applications import, and what it ships. */
export interface ClientShape {
  /** Its name, e.g. "`EventSource` + `subscribe`". */
  name: string;
  /** The names it imports from the bundle; `null` for every export. */
  imports: string[] | null;
}

/** The shapes measured: `EventSource` alone, `EventSource` + `subscribe`, the whole bundle. */
export declare const CLIENT_SHAPES: readonly ClientShape[];

/** The most `EventSource` + `subscribe` may ship today, in bytes minified + gzip. */
export declare const EVENT_SOURCE_SUBSCRIBE_BUDGET: number;

/** What `EventSource` + `subscribe` should ship, in bytes minified + gzip: 4096. */
export declare const EVENT_SOURCE_SUBSCRIBE_GOAL: number;

/**
 * Bundles each of {@link CLIENT_SHAPES} from a tiny entry that imports only its names: minified,
 * tree-shaken, for browsers; returns their sizes.
 */
export declare function measureClientShapes(): Promise<
  (ClientShape & { minBytes: number; gzipBytes: number })[]
>;

/** The bundle's type declarations (dist/client.browser.d.ts): herald/client's API. */
export declare const BROWSER_TYPES: string;

/** Writes {@link BROWSER_TYPES} as `client.browser.d.ts` in `distDir` (default dist/). */
export declare function writeBrowserTypes(distDir?: string): Promise<void>;
