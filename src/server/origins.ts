/**
 * Which origins the hub trusts: one rule for `--cors-origins` (CORS) and `--publish-origins`
 * (the CSRF check of a request authorized by the `mercureAuthorization` cookie).
 *
 * An entry is one of:
 *
 * - `*`: any origin (alone; it cannot be combined with other entries);
 * - an origin, `scheme://host[:port]` (a trailing `/` is dropped, scheme and host are compared
 *   without regard to case, a default port is the same as none): that origin only;
 * - `scheme://*.domain[:port]`: every subdomain of `domain`, at any depth (`a.domain`,
 *   `a.b.domain`), with that scheme and port — not `domain` itself. The `*` stands for whole
 *   labels, so `https://*.example.com` never matches `https://evilexample.com`.
 *
 * Anything else — a `*` elsewhere, a path, a query, credentials, `null` — is refused when the
 * hub starts ({@link HeraldOriginError}). A request's `Origin` is compared in its serialized
 * form; `null` (sandboxed frames, `file:` pages, some redirects: any site can produce it) is
 * matched by `*` only.
 *
 * @packageDocumentation
 */

/** An allowed-origin entry that cannot be used; thrown when the hub's configuration is read. */
export class HeraldOriginError extends Error {
  /** The entry as it was given. */
  readonly entry: string;

  /**
   * @param entry - the entry as it was given
   * @param message - what is wrong and what to do
   */
  constructor(entry: string, message: string) {
    super(message);
    this.name = 'HeraldOriginError';
    this.entry = entry;
  }
}

/** One allowed-origin entry, parsed. `text` is its canonical spelling. */
export type OriginPattern =
  | { readonly kind: 'any'; readonly text: '*' }
  | { readonly kind: 'exact'; readonly text: string }
  | {
      readonly kind: 'subdomains';
      readonly text: string;
      /** The scheme with its colon, lower-case (`https:`). */
      readonly protocol: string;
      /** The domain whose subdomains match, lower-case, ASCII (`example.com`). */
      readonly parent: string;
      /** The port, `''` for the scheme's default. */
      readonly port: string;
    };

const HINT =
  'an origin is scheme://host[:port], e.g. https://app.example.com or http://localhost:3000; https://*.example.com allows every subdomain of example.com; * allows any origin';

/** An origin's URL, or why the text is not an origin. */
function parseOrigin(text: string): URL | string {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return 'is not an origin';
  }
  if (
    url.origin === 'null' ||
    url.username !== '' ||
    url.password !== '' ||
    url.search !== '' ||
    url.hash !== '' ||
    url.pathname !== '/' ||
    !/^[a-z][a-z0-9+.-]*:\/\/[^/?#]+\/?$/i.test(text)
  ) {
    return 'is not an origin (no path, query or credentials)';
  }
  return url;
}

/**
 * Parses one allowed-origin entry.
 *
 * @param entry - `*`, `scheme://host[:port]` or `scheme://*.domain[:port]`
 * @throws HeraldOriginError when the entry is none of these, saying what is wrong
 */
export function parseOriginPattern(entry: string): OriginPattern {
  const value = entry.trim();
  if (value === '*') return { kind: 'any', text: '*' };
  if (value.toLowerCase() === 'null') {
    throw new HeraldOriginError(
      entry,
      '"null" cannot be allowed: it is the origin of sandboxed frames, file: pages and some redirects, which any site can produce; allow the page\'s real origin instead',
    );
  }
  const star = value.indexOf('*');
  if (star < 0) {
    const url = parseOrigin(value);
    if (typeof url === 'string') throw new HeraldOriginError(entry, `"${entry}" ${url}: ${HINT}`);
    // Browsers send the serialized origin (lower-case host, default port omitted): keep that.
    return { kind: 'exact', text: url.origin };
  }
  const wildcard = /^([a-z][a-z0-9+.-]*:\/\/)\*\.([^*]+)$/i.exec(value);
  if (wildcard === null && /^\*\.[^*]+$/.test(value)) {
    throw new HeraldOriginError(
      entry,
      `"${entry}" has no scheme: an origin wildcard is scheme://*.domain[:port], e.g. https://${value}`,
    );
  }
  if (wildcard === null) {
    throw new HeraldOriginError(
      entry,
      `"${entry}" has a * where it cannot be: * is either the whole entry (any origin) or the whole first label of the host, as in https://*.example.com or http://*.localhost:3000`,
    );
  }
  const parent = parseOrigin(`${wildcard[1]}${wildcard[2]}`);
  if (typeof parent === 'string') {
    throw new HeraldOriginError(entry, `"${entry}" ${parent}: ${HINT}`);
  }
  if (parent.hostname.startsWith('[') || /^[0-9.]+$/.test(parent.hostname)) {
    throw new HeraldOriginError(
      entry,
      `"${entry}": * stands for subdomains, and ${parent.hostname} is an IP address; list the origin itself`,
    );
  }
  return {
    kind: 'subdomains',
    text: `${parent.protocol}//*.${parent.host}`,
    protocol: parent.protocol,
    parent: parent.hostname,
    port: parent.port,
  };
}

/**
 * Parses a list of allowed-origin entries (`--cors-origins`, `--publish-origins`); blank
 * entries are skipped.
 *
 * @throws HeraldOriginError for an entry that is not allowed, or `*` beside other entries
 */
export function parseOriginList(entries: readonly string[]): OriginPattern[] {
  const patterns = entries.filter((e) => e.trim() !== '').map(parseOriginPattern);
  if (patterns.length > 1 && patterns.some((p) => p.kind === 'any')) {
    throw new HeraldOriginError(
      entries.join(','),
      `* (any origin) cannot be combined with other origins, got "${entries.join(',')}"; give * alone or list the origins`,
    );
  }
  return patterns;
}

/** Which request origins an allowed-origin list lets in. Build one with {@link originPolicy}. */
export interface OriginPolicy {
  /** The list has `*`. */
  readonly any: boolean;
  /** The list names origins (exact or wildcard), not only `*`. */
  readonly listed: boolean;
  /** `origin` (a request's `Origin`) is allowed: by `*`, or by a listed entry. */
  allows(origin: string): boolean;
  /** `origin` is allowed by a listed entry (exact or wildcard); `*` is not counted. */
  allowsListed(origin: string): boolean;
}

/**
 * The policy of a list of allowed-origin entries.
 *
 * @param entries - the configured entries (`--cors-origins` or `--publish-origins`)
 * @throws HeraldOriginError as {@link parseOriginList}
 */
export function originPolicy(entries: readonly string[]): OriginPolicy {
  const patterns = parseOriginList(entries);
  const any = patterns.some((p) => p.kind === 'any');
  const exact = new Set<string>();
  const subdomains: Extract<OriginPattern, { kind: 'subdomains' }>[] = [];
  for (const p of patterns) {
    if (p.kind === 'exact') exact.add(p.text);
    else if (p.kind === 'subdomains') subdomains.push(p);
  }
  const allowsListed = (origin: string): boolean => {
    const url = requestOrigin(origin);
    if (url === undefined) return false;
    if (exact.has(url.origin)) return true;
    const host = url.hostname;
    return subdomains.some(
      (p) =>
        p.protocol === url.protocol &&
        p.port === url.port &&
        host.length > p.parent.length + 1 &&
        host.endsWith(`.${p.parent}`),
    );
  };
  return {
    any,
    listed: exact.size > 0 || subdomains.length > 0,
    allows: (origin) => any || allowsListed(origin),
    allowsListed,
  };
}

/**
 * A request's `Origin` as a URL, or `undefined` when it is not one (`null`, a path, garbage).
 * Scheme and host case, a default port and a trailing `/` do not matter: two spellings of one
 * origin are the same origin (RFC 6454 §4).
 */
function requestOrigin(origin: string): URL | undefined {
  const url = parseOrigin(origin.trim());
  return typeof url === 'string' ? undefined : url;
}
