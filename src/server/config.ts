/**
 * `herald serve` configuration: one table of options, read from flags, `HERALD_*` environment
 * variables and an optional JSON/YAML file — a flag beats the environment, which beats the file.
 * @packageDocumentation
 */

import { createHmac, createPrivateKey, randomBytes, X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { dirname, extname, resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { compileSelector } from '../hub/topics.js';
import { parseTrustedProxies } from './client-ip.js';
import {
  defaultConnections,
  defaultSockets,
  defaultSocketsPerIp,
  type FdLimit,
  readFdLimit,
} from './fd-limit.js';
import {
  ASYMMETRIC_ALGORITHMS,
  HMAC_ALGORITHMS,
  type JwtKeyConfig,
  loadVerificationKey,
} from './jwt-keys.js';
import { HeraldOriginError, parseOriginList } from './origins.js';

// The key's type lives with the key loading (jwt-keys.ts imports nothing from here); the
// configuration's readers (`herald token`, the tests) keep finding it next to ServerConfig.
export type { JwtKeyConfig } from './jwt-keys.js';

/** One `--history-topic`: a selector and the bounds of its topics' own history. */
export interface HistoryTopicConfig {
  /** A topic selector (exact topic, URI template or `*`). */
  selector: string;
  /** Most events of these topics kept for replay. */
  maxEvents: number;
  /** Most bytes of them kept; `undefined`: `--history-bytes`. */
  maxBytes: number | undefined;
}

/** Limits that protect the hub. */
export interface LimitsConfig {
  /**
   * Most open subscriber connections in total; 0 = no limit. Default derived from the open-file
   * limit (see `fd-limit.ts`), at most 100 000.
   */
  maxConnections: number;
  /** Most open subscriber connections from one IP address. Default 1000; 0 = no limit. */
  maxConnectionsPerIp: number;
  /**
   * Most bytes the streams of one IP address may hold together while their clients are behind
   * (queues and socket write buffers); past it, a live write closes its stream (reason
   * `budget`) and replays wait. Default 16 × `queueBytes`; 0 = no limit.
   */
  queueBytesPerIp: number;
  /**
   * Most topic selectors in one subscription (Mercure: 1..1000), and most updates of a JSON
   * publish array, their topics counted together. Default 1000.
   */
  maxTopics: number;
  /** Most topics of one published update (canonical and alternates). Default 100. */
  maxUpdateTopics: number;
  /**
   * Most estimated bytes one URI template selector may cost compiled (topics and token claims
   * alike). Default 128 KiB; 0 = only the library's own bound.
   */
  maxTemplateCost: number;
  /**
   * Most estimated bytes the distinct URI templates of one subscription (its topics and its
   * token's `mercure.subscribe`), or of one token's `mercure.publish`, may cost together.
   * Default 1 MiB; 0 = no limit.
   */
  maxSubscriptionCost: number;
  /**
   * Most estimated bytes of distinct URI templates the open subscriptions of one client address
   * may hold. Default 8 MiB; 0 = no limit.
   */
  maxTemplateCostPerIp: number;
  /** Most estimated bytes of distinct URI templates on the hub. Default 128 MiB; 0 = no limit. */
  maxTemplateCostTotal: number;
  /** Largest accepted publish body in bytes. Default 1 MiB. */
  maxBodyBytes: number;
  /**
   * Publishes per second per publisher (its token's `iss` + `sub`, else its claims: one
   * bucket however the token is spelled); 0 = no limit. Default 0.
   */
  publishRate: number;
  /**
   * Subscription events (`--subscriptions`) per second one client address may cause, two per
   * selector of each subscription it opens (then 429); bursts up to this or 2 × `maxTopics`,
   * whichever is larger. 0 = no limit. Default 1000.
   */
  subscriptionEventsRate: number;
  /**
   * Most ms a client may take to send a request's headers (HTTP/1.1) or to finish the TLS
   * handshake (slowloris protection). Default 10 000; 0 = no limit.
   */
  headersTimeoutMs: number;
  /**
   * Most ms a client may take to send a whole request, headers and body; a response (an event
   * stream) may last longer. Default 30 000; 0 = no limit.
   */
  requestTimeoutMs: number;
  /**
   * Most open client connections (sockets) of any kind: at the bound a newcomer replaces the
   * connection idle longest, or is closed when all are busy. Default derived from the open-file
   * limit; 0 = no limit.
   */
  maxSockets: number;
  /**
   * Most open client connections from one address (the socket's peer; peers in
   * `trustedProxies` are exempt). Default `maxConnectionsPerIp` + 100, at most half of
   * `maxSockets`; 0 = no limit.
   */
  maxSocketsPerIp: number;
  /**
   * A connection with no request in progress (an HTTP/2 session without streams, an HTTP/1.1
   * keep-alive connection) is closed after this many ms. Default 10 000; 0 = never.
   */
  idleTimeoutMs: number;
  /** The open-file limit the defaults were derived from. */
  fdLimit: FdLimit;
}

/** TLS files (checked by {@link loadConfig}: readable, PEM, and the key fits the certificate). */
export interface TlsConfig {
  /** Absolute path of the certificate chain, PEM (`--tls-cert`). */
  cert: string;
  /** Absolute path of the certificate's private key, PEM, not encrypted (`--tls-key`). */
  key: string;
}

/** The whole configuration of a Herald hub server, with every default applied. */
export interface ServerConfig {
  /**
   * Interface to listen on; `''` = every interface; `'localhost'` = both loopback addresses,
   * 127.0.0.1 and ::1 (dev mode's default), whichever `localhost` resolves to.
   */
  host: string;
  /** Port to listen on. Default 8080; 0 picks a free port. */
  port: number;
  /** TLS certificate and key files (PEM); when set, HTTP/2 with HTTP/1.1 fallback (ALPN). */
  tls: TlsConfig | undefined;
  /** Cleartext HTTP/2 (h2c, prior knowledge) instead of HTTP/1.1 when there is no TLS. */
  h2c: boolean;
  /**
   * Engine URL: `memory:` (default), `redis://…` / `rediss://…` or `nats://…`. Only the scheme
   * is checked here; the server decides which engines it can start.
   */
  engine: string;
  /** History bound in events (memory engine). Default 10 000. */
  historySize: number;
  /** History bound in bytes (memory engine). Default 16 MiB. */
  historyBytes: number;
  /** History age bound in ms; 0 = none. */
  historyTtlMs: number;
  /**
   * Retention classes (`--history-topic`): topics whose history is bounded on its own, so that
   * they cannot evict other topics' events. In order; the first class claiming every topic of
   * an event keeps it.
   */
  historyTopics: HistoryTopicConfig[];
  /** Heartbeat interval of subscriber streams in ms; 0 = off. Default 15 000. */
  heartbeatMs: number;
  /** Bound of each subscriber's queue in bytes. Default 1 MiB. */
  queueBytes: number;
  /** A subscriber stream that has not drained for this many ms is closed; 0 = never. 30 s. */
  stallTimeoutMs: number;
  /** Key that verifies publisher tokens, if any. */
  publisherKey: JwtKeyConfig | undefined;
  /** Key that verifies subscriber tokens, if any. */
  subscriberKey: JwtKeyConfig | undefined;
  /** JWKS URL whose keys verify both kinds of tokens (besides or instead of the keys). */
  jwksUrl: string | undefined;
  /** Largest JWKS response accepted, in bytes (decoded). Default 1 MiB. */
  jwksMaxBytes: number;
  /** How long fetching the JWKS may take, headers and body, in ms. Default 5000. */
  jwksTimeoutMs: number;
  /** Subscribers without a token are allowed (they receive public updates only). */
  anonymous: boolean;
  /** The active subscriptions API and subscription events are on. */
  subscriptions: boolean;
  /** Origins allowed by CORS (with credentials); `['*']` = any origin, without credentials. */
  corsOrigins: string[];
  /** Origins from which a cookie-authenticated POST is accepted (CSRF guard). */
  publishOrigins: string[];
  /** Development mode: anonymous subscribers, generated publisher key and token, dashboard. */
  dev: boolean;
  /** The dashboard page at `/`. On in dev mode. */
  dashboard: boolean;
  /**
   * Dev mode generated the publisher key: the dashboard page embeds short-lived publisher
   * tokens signed with it (minted per page view, renewed by the page before they expire).
   */
  devPublisherKey: boolean;
  /** Lifetime of the publisher tokens the dev-mode dashboard embeds, in ms. Default 10 min. */
  devTokenTtlMs: number;
  /**
   * `user:password` that opens the dashboard with HTTP Basic authentication (besides a JWT
   * with the dashboard claim); `undefined` = none.
   */
  dashboardCredentials: string | undefined;
  /**
   * Proxies (IP addresses and CIDR ranges, IPv4 and IPv6) whose `X-Forwarded-For` names the
   * client for per-IP limits and logs; empty = the socket's address is always the client's.
   */
  trustedProxies: string[];
  /** Log level: `fatal`, `error`, `warn`, `info`, `debug`, `trace` or `silent`. */
  logLevel: LogLevel;
  /** How long a graceful shutdown may take, in ms. Default 10 000. */
  shutdownGraceMs: number;
  /** Protective limits. */
  limits: LimitsConfig;
}

/** Log levels of {@link ServerConfig.logLevel} (pino's, plus `silent`). */
export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
/** A log level of {@link ServerConfig.logLevel}. */
export type LogLevel = (typeof LOG_LEVELS)[number];

/** JWS algorithms a key may be configured for (`none` never is); see `jwt-keys.ts`. */
export const JWT_ALGORITHMS: readonly string[] = [...HMAC_ALGORITHMS, ...ASYMMETRIC_ALGORITHMS];

/** Engine URL schemes the configuration accepts (the server decides which it can start). */
export const ENGINE_SCHEMES = [
  'memory:',
  'redis:',
  'rediss:',
  'redis+sentinel:',
  'redis+cluster:',
  'nats:',
] as const;

// ---------------------------------------------------------------------------------------------
// Errors

/** What kind of configuration problem a {@link HeraldConfigError} reports. */
export type HeraldConfigErrorCode =
  /** A flag, environment variable or file key that `herald serve` does not know. */
  | 'UNKNOWN_OPTION'
  /** A flag without its value. */
  | 'MISSING_VALUE'
  /** A value that is not what the option accepts (see the message). */
  | 'INVALID_VALUE'
  /** Options that do not go together (e.g. a TLS certificate without its key). */
  | 'CONFLICT'
  /** A file (config, key, certificate) that cannot be read or parsed. */
  | 'FILE';

/** A configuration mistake, with a message that names where the value came from. */
export class HeraldConfigError extends Error {
  /** Machine-readable kind of error. */
  readonly code: HeraldConfigErrorCode;
  /**
   * Where the offending value came from, as a person would look for it: `--port`,
   * `HERALD_PORT`, `herald.yaml (key "port")`; `undefined` when no single source is at fault.
   */
  readonly source: string | undefined;

  /**
   * @param code - what kind of error this is
   * @param message - a sentence a person can act on, naming the source
   * @param source - where the offending value came from
   */
  constructor(code: HeraldConfigErrorCode, message: string, source?: string) {
    super(message);
    this.name = 'HeraldConfigError';
    this.code = code;
    this.source = source;
  }
}

/** A value an option parser refused; turned into a {@link HeraldConfigError} with its source. */
class Invalid extends Error {}

// ---------------------------------------------------------------------------------------------
// The option table

/** How an option's text is read. */
export type OptionType =
  | 'string'
  | 'integer'
  | 'number'
  | 'boolean'
  | 'duration'
  | 'bytes'
  | 'list'
  | 'entries'
  | 'enum';

/** A parsed option value. */
export type OptionValue = string | number | boolean | string[];

/** One row of {@link SERVE_OPTIONS}: everything parsing and `--help` need about an option. */
export interface OptionSpec {
  /** The option's name, camelCase, e.g. `historySize`. */
  readonly name: string;
  /** The flag, e.g. `--history-size`; booleans also take `--no-…` and `=true|false`. */
  readonly flag: string;
  /** The environment variable, e.g. `HERALD_HISTORY_SIZE` (the flag name, upper snake case). */
  readonly env: string;
  /** The key in a config file (the flag name, camelCase), or `undefined` when files cannot set it. */
  readonly fileKey: string | undefined;
  /** How the value is read. */
  readonly type: OptionType;
  /** Placeholder for the value in `--help`, e.g. `<duration>`; `''` for booleans. */
  readonly valueName: string;
  /** The value when no source sets it (`undefined` = unset). */
  readonly default: OptionValue | undefined;
  /** How `--help` shows the default, when it differs from the plain value. */
  readonly defaultText: string | undefined;
  /** One or two sentences for `--help`. */
  readonly description: string;
  /** The `--help` section the option is listed in. */
  readonly group: string;
  /** Smallest accepted number (integer, number, duration, bytes). */
  readonly min: number | undefined;
  /** Largest accepted number (integer, number, duration, bytes). */
  readonly max: number | undefined;
  /** Accepted values of an `enum` option. */
  readonly choices: readonly string[] | undefined;
  /** Extra check / normalization of the parsed value; throws with a message when invalid. */
  readonly check: ((value: OptionValue) => OptionValue) | undefined;
}

/** The fields of {@link OptionSpec} one writes by hand; the rest is derived from the flag. */
type OptionRow = Pick<OptionSpec, 'flag' | 'type' | 'description' | 'group'> &
  Partial<Pick<OptionSpec, 'valueName' | 'default' | 'defaultText' | 'min' | 'max' | 'choices'>> & {
    check?: (value: OptionValue) => OptionValue;
    /** Files cannot set it (only `--config`). */
    noFile?: boolean;
  };

const MAX_TIMER_MS = 2_147_483_647;
const MiB = 1024 * 1024;
/**
 * `--queue-bytes-per-ip` by default, in `--queue-bytes`: 16 MiB at the default queue. One
 * address may add 64 MiB to the hub (docs/security.md): about 32 MiB are its connections' own
 * cost at the default --max-connections-per-ip (measured at 1000), the rest is this budget and
 * headroom for the garbage collector.
 */
const DEFAULT_QUEUE_BYTES_PER_IP_QUEUES = 16;

/**
 * Subscription events per second per client address (`--subscription-events-rate`): a
 * 1,000-selector subscription opened and closed every two seconds. Measured with clients of one
 * address cycling such subscriptions (`attack-history-flush`, a 2-core machine under load): an
 * event costs the hub 20–40 µs of CPU (memory engine ~20, Redis ~35, NATS ~40, the subscribe and
 * its close included), so the address takes 2–4 % of a core; a refused subscribe costs what a
 * `/healthz` request does.
 */
const DEFAULT_SUBSCRIPTION_EVENTS_RATE = 1000;

const camel = (flag: string): string =>
  flag.slice(2).replace(/-([a-z])/g, (_m, c: string) => c.toUpperCase());
const upperSnake = (flag: string): string =>
  `HERALD_${flag.slice(2).replace(/-/g, '_').toUpperCase()}`;

function define(rows: OptionRow[]): readonly OptionSpec[] {
  return rows.map((row) => ({
    name: camel(row.flag),
    flag: row.flag,
    env: upperSnake(row.flag),
    fileKey: row.noFile ? undefined : camel(row.flag),
    type: row.type,
    valueName: row.valueName ?? (row.type === 'boolean' ? '' : `<${row.type}>`),
    default: row.default,
    defaultText: row.defaultText,
    description: row.description,
    group: row.group,
    min: row.min,
    max: row.max,
    choices: row.choices,
    check: row.check,
  }));
}

const LISTEN = 'Listening';
const AUTH = 'Authorization (JWT)';
const HTTP = 'Browsers (CORS)';
const ENGINE = 'Engine and history';
const STREAMS = 'Subscriber streams';
const LIMITS = 'Limits';
const OPS = 'Operations';

/**
 * Every option of `herald serve`, in `--help` order. Parsing (flags, environment, config file)
 * and the generated help both read this table; nothing else defines an option.
 */
export const SERVE_OPTIONS: readonly OptionSpec[] = define([
  {
    flag: '--addr',
    type: 'string',
    group: LISTEN,
    valueName: '<host:port>',
    defaultText: ':8080 (every interface; localhost:8080 with --dev)',
    description:
      'Address to listen on: host:port, :port (every interface) or [ipv6]:port; localhost:port listens on both 127.0.0.1 and ::1. A --port from the same or a stronger source overrides its port.',
    check: (v) => {
      parseAddr(String(v));
      return v;
    },
  },
  {
    flag: '--port',
    type: 'integer',
    group: LISTEN,
    valueName: '<port>',
    default: 8080,
    min: 0,
    max: 65535,
    description: 'Port to listen on; 0 picks a free one (the URL printed at startup shows it).',
  },
  {
    flag: '--tls-cert',
    type: 'string',
    group: LISTEN,
    valueName: '<file>',
    description:
      'TLS certificate chain (PEM file). With --tls-key: HTTPS with HTTP/2 and HTTP/1.1 fallback (ALPN).',
  },
  {
    flag: '--tls-key',
    type: 'string',
    group: LISTEN,
    valueName: '<file>',
    description: 'Private key of --tls-cert (PEM file, not encrypted).',
  },
  {
    flag: '--h2c',
    type: 'boolean',
    group: LISTEN,
    default: false,
    description: 'Without TLS: serve cleartext HTTP/2 (prior knowledge) instead of HTTP/1.1.',
  },
  {
    flag: '--jwt-key',
    type: 'string',
    group: AUTH,
    valueName: '<key>',
    description:
      'Key that verifies both publisher and subscriber tokens: an HMAC secret, or a PEM public key / certificate / JWK for RS*, PS*, ES*, EdDSA. @path reads it from a file (PEM text may also be given inline).',
  },
  {
    flag: '--jwt-alg',
    type: 'enum',
    group: AUTH,
    valueName: '<alg>',
    default: 'HS256',
    choices: JWT_ALGORITHMS,
    description: `Algorithm of --jwt-key: ${JWT_ALGORITHMS.join(', ')}.`,
  },
  {
    flag: '--publisher-jwt-key',
    type: 'string',
    group: AUTH,
    valueName: '<key>',
    description: 'Key that verifies publisher tokens (instead of --jwt-key). @path reads a file.',
  },
  {
    flag: '--publisher-jwt-alg',
    type: 'enum',
    group: AUTH,
    valueName: '<alg>',
    choices: JWT_ALGORITHMS,
    defaultText: 'the --jwt-alg',
    description: 'Algorithm of the publisher key.',
  },
  {
    flag: '--subscriber-jwt-key',
    type: 'string',
    group: AUTH,
    valueName: '<key>',
    description: 'Key that verifies subscriber tokens (instead of --jwt-key). @path reads a file.',
  },
  {
    flag: '--subscriber-jwt-alg',
    type: 'enum',
    group: AUTH,
    valueName: '<alg>',
    choices: JWT_ALGORITHMS,
    defaultText: 'the --jwt-alg',
    description: 'Algorithm of the subscriber key.',
  },
  {
    flag: '--jwks-url',
    type: 'string',
    group: AUTH,
    valueName: '<url>',
    description: 'JWKS URL (http or https) whose keys verify publisher and subscriber tokens.',
    check: (v) => checkHttpUrl(String(v)),
  },
  {
    flag: '--jwks-max-bytes',
    type: 'bytes',
    group: AUTH,
    valueName: '<bytes>',
    default: MiB,
    defaultText: '1MiB',
    min: 1,
    description:
      'Largest JWKS response read (decoded); a larger one is refused, logged, and tokens that need it get a 401.',
  },
  {
    flag: '--jwks-timeout',
    type: 'duration',
    group: AUTH,
    valueName: '<duration>',
    default: 5000,
    defaultText: '5s',
    min: 1,
    max: MAX_TIMER_MS,
    description:
      'Longest time to fetch the JWKS, headers and body; a slower answer is abandoned, logged, and tokens that need it get a 401.',
  },
  {
    flag: '--anonymous',
    type: 'boolean',
    group: AUTH,
    defaultText: 'off (on with --dev)',
    description: 'Allow subscribers without a token; they receive public updates only.',
  },
  {
    flag: '--subscriptions',
    type: 'boolean',
    group: AUTH,
    default: false,
    description:
      'Active subscriptions: subscription events and the /.well-known/mercure/subscriptions API.',
  },
  {
    flag: '--cors-origins',
    type: 'list',
    group: HTTP,
    valueName: '<origins>',
    default: [],
    defaultText: 'none',
    description:
      'Comma-separated origins allowed by CORS, with credentials (e.g. https://app.example.com; https://*.example.com = its subdomains, at any depth); * = any origin, without credentials.',
    check: (v) => checkOrigins(v as string[]),
  },
  {
    flag: '--publish-origins',
    type: 'list',
    group: HTTP,
    valueName: '<origins>',
    default: [],
    defaultText: 'none',
    description:
      'Comma-separated origins from which a publish authorized by the mercureAuthorization cookie is accepted (e.g. https://app.example.com; https://*.example.com = its subdomains, at any depth); * = any.',
    check: (v) => checkOrigins(v as string[]),
  },
  {
    flag: '--engine',
    type: 'string',
    group: ENGINE,
    valueName: '<url>',
    default: 'memory:',
    description:
      'Where events are ordered and kept: memory: (this process); redis://host:port, redis+sentinel://host:port,…/<master> or redis+cluster://host:port,… (a Redis Stream shared by several hub nodes); nats://host:port[?stream=name] (a NATS JetStream stream shared by several hub nodes).',
    check: (v) => checkEngine(String(v)),
  },
  {
    flag: '--history-size',
    type: 'integer',
    group: ENGINE,
    valueName: '<events>',
    default: 10_000,
    min: 0,
    description: 'Most events kept for replay (Last-Event-ID); 0 = live only.',
  },
  {
    flag: '--history-bytes',
    type: 'bytes',
    group: ENGINE,
    valueName: '<bytes>',
    default: 16 * MiB,
    defaultText: '16MiB',
    min: 0,
    description: 'Most bytes of events kept for replay, e.g. 16MiB, 500KB, 1048576.',
  },
  {
    flag: '--history-ttl',
    type: 'duration',
    group: ENGINE,
    valueName: '<duration>',
    default: 0,
    defaultText: '0 (no age bound)',
    description: 'Events older than this leave the history: ms, or 30s, 10m, 1h, 1h30m, 7d.',
  },
  {
    flag: '--history-topic',
    type: 'entries',
    group: ENGINE,
    valueName: '<selector>=<events>[,<bytes>]',
    default: [],
    defaultText: 'none',
    description:
      "Topics whose history is bounded on its own (repeatable): e.g. /ticks/{id}=500,1MiB keeps the newest 500 events (and at most 1 MiB) of the topics /ticks/{id} matches apart from the rest, so they never evict other topics' events and are evicted only by their own; without bytes, --history-bytes. An event belongs to the first entry whose selector matches every one of its topics. With --subscriptions, subscription events have a class of their own with the --history-size / --history-bytes bounds (change them with /.well-known/mercure/subscriptions/{+rest}=…). In the environment, entries are separated by spaces.",
    check: (v) => {
      for (const entry of v as string[]) parseHistoryTopic(entry);
      return v;
    },
  },
  {
    flag: '--heartbeat',
    type: 'duration',
    group: STREAMS,
    valueName: '<duration>',
    default: 15_000,
    defaultText: '15s',
    max: MAX_TIMER_MS,
    description: 'Idle time before a keep-alive comment on each subscriber stream; 0 = none.',
  },
  {
    flag: '--queue-bytes',
    type: 'bytes',
    group: STREAMS,
    valueName: '<bytes>',
    default: MiB,
    defaultText: '1MiB',
    min: 1,
    description:
      'Bound of each subscriber queue; a subscriber that falls further behind is disconnected and resumes from history.',
  },
  {
    flag: '--stall-timeout',
    type: 'duration',
    group: STREAMS,
    valueName: '<duration>',
    default: 30_000,
    defaultText: '30s',
    max: MAX_TIMER_MS,
    description:
      'A subscriber stream whose socket has not drained for this long (the client stopped reading) is closed, live or replaying history, and logged with reason stalled; 0 = never.',
  },
  {
    flag: '--max-connections',
    type: 'integer',
    group: LIMITS,
    valueName: '<n>',
    defaultText: '90% of --max-sockets, at most 100000',
    min: 0,
    description:
      'Most open subscriber connections in total (then 429); 0 = no limit. The default leaves sockets for publishers and /healthz at the limit.',
  },
  {
    flag: '--max-connections-per-ip',
    type: 'integer',
    group: LIMITS,
    valueName: '<n>',
    default: 1000,
    min: 0,
    description: 'Most open subscriber connections from one IP address (then 429); 0 = no limit.',
  },
  {
    flag: '--queue-bytes-per-ip',
    type: 'bytes',
    group: LIMITS,
    valueName: '<bytes>',
    defaultText: '16 × --queue-bytes (16MiB)',
    min: 0,
    description:
      'Most bytes the subscriber streams of one IP address may hold together while their clients are behind (queues and socket write buffers, at least --queue-bytes). Past it, a live event for one of them closes that stream (logged with reason budget; the client resumes from history) and replays wait for room. 0 = no limit.',
  },
  {
    flag: '--max-sockets',
    type: 'integer',
    group: LIMITS,
    valueName: '<n>',
    defaultText: 'the open-file limit less 10% (at least 64)',
    min: 0,
    description:
      'Most open client connections of any kind. At the bound a new connection takes the place of the one idle longest (no request in progress); when all are busy, it is closed. The open-file limit (RLIMIT_NOFILE) is read from /proc/self/limits; where it cannot be read, 4096 is assumed: set the limits explicitly there. 0 = no limit.',
  },
  {
    flag: '--max-sockets-per-ip',
    type: 'integer',
    group: LIMITS,
    valueName: '<n>',
    defaultText: '--max-connections-per-ip + 100, at most half of --max-sockets',
    min: 0,
    description:
      "Most open client connections from one address (the socket's; peers in --trusted-proxies are exempt); more are closed as they are accepted. 0 = no limit.",
  },
  {
    flag: '--idle-timeout',
    type: 'duration',
    group: LIMITS,
    valueName: '<duration>',
    default: 10_000,
    defaultText: '10s',
    max: MAX_TIMER_MS,
    description:
      'A connection with no request in progress — an HTTP/2 session without streams, an HTTP/1.1 keep-alive connection — is closed after this long. 0 = never.',
  },
  {
    flag: '--max-topics',
    type: 'integer',
    group: LIMITS,
    valueName: '<n>',
    default: 1000,
    min: 1,
    description:
      'Most topic selectors in one subscription, and most updates of a JSON publish array, their topics counted together (then 400).',
  },
  {
    flag: '--max-update-topics',
    type: 'integer',
    group: LIMITS,
    valueName: '<n>',
    default: 100,
    min: 1,
    description:
      'Most topics of one published update, its canonical topic and alternates (then 400). Each costs a lookup on every publish and its bytes in history.',
  },
  {
    flag: '--max-template-cost',
    type: 'bytes',
    group: LIMITS,
    valueName: '<bytes>',
    default: 128 * 1024,
    defaultText: '128KiB',
    min: 0,
    description:
      'Most memory one URI template selector may take compiled, as estimated from its text before anything is built (a ":n" prefix costs ~640 bytes per character); topics and token claims alike (then 400). 0 = only the built-in bound.',
  },
  {
    flag: '--max-subscription-cost',
    type: 'bytes',
    group: LIMITS,
    valueName: '<bytes>',
    default: MiB,
    defaultText: '1MiB',
    min: 0,
    description:
      "Most estimated memory of the distinct URI templates of one subscription (its topics and its token's mercure.subscribe), or of one publisher token's mercure.publish (then 400). 0 = no limit.",
  },
  {
    flag: '--max-template-cost-per-ip',
    type: 'bytes',
    group: LIMITS,
    valueName: '<bytes>',
    default: 8 * MiB,
    defaultText: '8MiB',
    min: 0,
    description:
      'Most estimated memory of the distinct URI templates held by the open subscriptions of one client address (then 429). 0 = no limit.',
  },
  {
    flag: '--max-template-cost-total',
    type: 'bytes',
    group: LIMITS,
    valueName: '<bytes>',
    default: 128 * MiB,
    defaultText: '128MiB',
    min: 0,
    description:
      'Most estimated memory of the distinct URI templates held by all open subscriptions (then 429). 0 = no limit.',
  },
  {
    flag: '--max-body-bytes',
    type: 'bytes',
    group: LIMITS,
    valueName: '<bytes>',
    default: MiB,
    defaultText: '1MiB',
    min: 1,
    description: 'Largest accepted publish body (then 413).',
  },
  {
    flag: '--publish-rate',
    type: 'number',
    group: LIMITS,
    valueName: '<per-second>',
    default: 0,
    min: 0,
    description:
      'Publishes per second per publisher (then 429): per token issuer and subject (iss + sub), or per set of claims for tokens without sub — however the token is spelled or sent. 0 = no limit.',
  },
  {
    flag: '--subscription-events-rate',
    type: 'number',
    group: LIMITS,
    valueName: '<per-second>',
    default: DEFAULT_SUBSCRIPTION_EVENTS_RATE,
    min: 0,
    description:
      'With --subscriptions: subscription events per second one client address may cause (then 429). A subscription makes two per selector, one as it opens and one as it closes, both counted when it opens; bursts up to this or twice --max-topics, whichever is larger. 0 = no limit.',
  },
  {
    flag: '--trusted-proxies',
    type: 'list',
    group: LIMITS,
    valueName: '<list>',
    default: [],
    defaultText: 'none',
    description:
      'Comma-separated IPs and CIDR ranges of your reverse proxies (e.g. 127.0.0.1,10.0.0.0/8,::1,fd00::/8). A request from one of them is counted for the per-IP limits and logged under the client address its X-Forwarded-For names (the rightmost untrusted entry); from any other peer the header is ignored.',
    check: (v) => checkTrustedProxies(v as string[]),
  },
  {
    flag: '--headers-timeout',
    type: 'duration',
    group: LIMITS,
    valueName: '<duration>',
    default: 10_000,
    defaultText: '10s',
    max: MAX_TIMER_MS,
    description:
      'Longest time a client may take to send the headers of a request (HTTP/1.1) or to finish the TLS handshake; then 408 and the connection is closed (slowloris protection). 0 = no limit.',
  },
  {
    flag: '--request-timeout',
    type: 'duration',
    group: LIMITS,
    valueName: '<duration>',
    default: 30_000,
    defaultText: '30s',
    max: MAX_TIMER_MS,
    description:
      'Longest time a client may take to send a whole request, headers and body; then 408. Event streams are not cut: only their request must arrive in time. 0 = no limit.',
  },
  {
    flag: '--dev',
    type: 'boolean',
    group: OPS,
    default: false,
    description:
      'Development mode: anonymous subscribers, dashboard on, and without a publisher key a generated one whose ready-to-use JWT is printed.',
  },
  {
    flag: '--dashboard',
    type: 'boolean',
    group: OPS,
    defaultText: 'off (on with --dev)',
    description:
      'Serve the live dashboard at /; --no-dashboard turns it off, also with --dev. Outside dev mode it needs a JWT with the claim {"herald":{"dashboard":true}} or --dashboard-credentials.',
  },
  {
    flag: '--dashboard-credentials',
    type: 'string',
    group: OPS,
    valueName: '<user:password>',
    description:
      'HTTP Basic credentials that open the dashboard (a browser asks for them); @path reads them from a file. A JWT with the dashboard claim works too.',
    check: (v) => checkCredentials(String(v)),
  },
  {
    flag: '--dev-token-ttl',
    type: 'duration',
    group: OPS,
    valueName: '<duration>',
    default: 600_000,
    defaultText: '10m',
    min: 1000,
    max: 86_400_000,
    description:
      'Dev mode: lifetime of the publisher token the dashboard page embeds (a new one per page view; the page renews it before it expires).',
  },
  {
    flag: '--log-level',
    type: 'enum',
    group: OPS,
    valueName: '<level>',
    default: 'info',
    choices: LOG_LEVELS,
    description: `JSON log lines on stdout from this level up: ${LOG_LEVELS.join(', ')}.`,
  },
  {
    flag: '--shutdown-grace',
    type: 'duration',
    group: OPS,
    valueName: '<duration>',
    default: 10_000,
    defaultText: '10s',
    max: MAX_TIMER_MS,
    description:
      'On SIGTERM/SIGINT: how long streams get to end and buffers to flush before the process exits.',
  },
  {
    flag: '--config',
    type: 'string',
    group: OPS,
    valueName: '<file>',
    noFile: true,
    description:
      'A JSON or YAML file of options, keyed by the camelCase flag name (historySize, corsOrigins…). Relative paths in it are relative to the file.',
  },
]);

const BY_NAME = new Map(SERVE_OPTIONS.map((o) => [o.name, o]));
const BY_FLAG = new Map(SERVE_OPTIONS.map((o) => [o.flag, o]));
const BY_ENV = new Map(SERVE_OPTIONS.map((o) => [o.env, o]));
const BY_FILE_KEY = new Map(
  SERVE_OPTIONS.filter((o) => o.fileKey !== undefined).map((o) => [o.fileKey!, o]),
);

function spec(name: string): OptionSpec {
  const found = BY_NAME.get(name);
  if (found === undefined) throw new Error(`internal: no option ${name}`);
  return found;
}

// ---------------------------------------------------------------------------------------------
// Value parsers (exported ones are useful beyond the CLI)

const DURATION_UNITS: Record<string, number> = {
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
};

/**
 * Reads a duration: plain digits are milliseconds; otherwise one or more `<number><unit>` parts
 * with units `ms`, `s`, `m`, `h`, `d` (`1h30m`, `2.5s`).
 * @param text - the duration as written
 * @returns whole milliseconds, or `undefined` when `text` is not a duration
 */
export function parseDuration(text: string): number | undefined {
  const t = text.trim();
  if (/^\d+$/.test(t)) return Number(t);
  if (!/^(?:\d+(?:\.\d+)?(?:ms|s|m|h|d))+$/.test(t)) return undefined;
  let ms = 0;
  for (const [, amount, unit] of t.matchAll(/(\d+(?:\.\d+)?)(ms|s|m|h|d)/g)) {
    ms += Number(amount) * DURATION_UNITS[unit!]!;
  }
  return Math.round(ms);
}

const BYTE_UNITS: Record<string, number> = {
  b: 1,
  kb: 1000,
  mb: 1000 ** 2,
  gb: 1000 ** 3,
  kib: 1024,
  mib: 1024 ** 2,
  gib: 1024 ** 3,
};

/**
 * Reads a size: plain digits are bytes; otherwise a number with a unit, `B`, `KB`, `MB`, `GB`
 * (powers of 1000) or `KiB`, `MiB`, `GiB` (powers of 1024), case-insensitive.
 * @param text - the size as written
 * @returns whole bytes, or `undefined` when `text` is not a size
 */
export function parseBytes(text: string): number | undefined {
  const match = /^(\d+(?:\.\d+)?)\s*([a-z]*)$/i.exec(text.trim());
  if (match === null) return undefined;
  const unit = BYTE_UNITS[(match[2] ?? '').toLowerCase() || 'b'];
  if (unit === undefined) return undefined;
  return Math.round(Number(match[1]) * unit);
}

/** How `duration` and `bytes` options read a value, and how an error describes it. */
const UNIT_VALUES = {
  duration: {
    what: 'a duration in ms or with a unit (500ms, 30s, 10m, 1h, 7d)',
    parse: (text: string) => parseDuration(text),
  },
  bytes: {
    what: 'a size in bytes, or with a unit (64KiB, 16MiB, 1GB)',
    parse: (text: string) => parseBytes(text),
  },
} as const;

/**
 * Reads a listen address: `host:port`, `:port` (every interface) or `[ipv6]:port`.
 * @param text - the address as written
 * @returns the host (`''` = every interface) and port
 * @throws Error when `text` is not such an address
 */
export function parseAddr(text: string): { host: string; port: number } {
  const match = /^(\[[0-9a-fA-F:.%\w]+\]|[^:[\]\s]*):(\d{1,5})$/.exec(text.trim());
  const port = Number(match?.[2]);
  if (match === null || port > 65535) {
    throw new Invalid(
      `expected host:port, :port or [ipv6]:port with a port from 0 to 65535 (e.g. 127.0.0.1:8080, :8080, [::1]:8080), got "${text}"`,
    );
  }
  const host = match[1]!.startsWith('[') ? match[1]!.slice(1, -1) : match[1]!;
  return { host, port };
}

function checkHttpUrl(text: string): string {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new Invalid(`expected an http:// or https:// URL, got "${text}"`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new Invalid(`expected an http:// or https:// URL, got "${text}"`);
  }
  return text;
}

function checkOrigins(origins: string[]): string[] {
  // One rule for --cors-origins and --publish-origins: origins.ts.
  try {
    return parseOriginList(origins).map((pattern) => pattern.text);
  } catch (error) {
    if (error instanceof HeraldOriginError) throw new Invalid(error.message);
    throw error;
  }
}

function checkCredentials(text: string, fileAllowed = true): string {
  // `@path` is read (and checked) once the sources are resolved.
  if (fileAllowed && text.startsWith('@') && !text.startsWith('@@')) return text;
  const colon = text.indexOf(':');
  if (colon < 0 || colon === text.length - 1) {
    throw new Invalid('expected user:password (RFC 7617 Basic credentials; the user may be empty)');
  }
  return text;
}

function checkTrustedProxies(entries: string[]): string[] {
  try {
    parseTrustedProxies(entries);
  } catch (error) {
    throw new Invalid((error as Error).message);
  }
  return entries;
}

/**
 * Reads one `--history-topic` entry: `<selector>=<events>[,<bytes>]`, split at the last `=`
 * (a selector may contain `=` and `,`; the bounds contain neither).
 * @param text - the entry as written
 * @returns the selector and its bounds
 * @throws Error when the entry is malformed
 */
export function parseHistoryTopic(text: string): HistoryTopicConfig {
  const hint = `expected <selector>=<events>[,<bytes>], e.g. /ticks/{id}=500,1MiB, got "${text}"`;
  const eq = text.lastIndexOf('=');
  if (eq <= 0) throw new Invalid(hint);
  const selector = text.slice(0, eq);
  const [events, bytes, ...rest] = text.slice(eq + 1).split(',');
  if (rest.length > 0 || events === undefined || !/^\d+$/.test(events.trim())) {
    throw new Invalid(hint);
  }
  const maxEvents = Number(events.trim());
  let maxBytes: number | undefined;
  if (bytes !== undefined) {
    maxBytes = parseBytes(bytes);
    if (maxBytes === undefined) {
      throw new Invalid(`${hint}: "${bytes}" is not a size (64KiB, 16MiB, 1048576)`);
    }
  }
  if (!Number.isSafeInteger(maxEvents)) throw new Invalid(hint);
  try {
    compileSelector(selector, { strict: true });
  } catch (error) {
    throw new Invalid(`"${selector}" is not a topic selector: ${(error as Error).message}`);
  }
  return { selector, maxEvents, maxBytes };
}

function checkEngine(text: string): string {
  // `memory` alone is allowed too: YAML reads an unquoted `engine: memory:` as a mapping.
  if (text === 'memory') return 'memory:';
  const hint =
    'expected memory:, redis://host[:port], rediss://host[:port], redis+sentinel://host:port[,host:port…]/<master>, redis+cluster://host:port[,host:port…] or nats://host[:port]';
  // Several hosts (sentinels, cluster nodes) are not a WHATWG URL; the engine checks them.
  if (/^redis\+(sentinel|cluster):\/\/[^/,]+(,[^/,]+)*(\/.*)?$/i.test(text)) return text;
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new Invalid(`${hint}, got "${text}"`);
  }
  if (!(ENGINE_SCHEMES as readonly string[]).includes(url.protocol)) {
    throw new Invalid(`unknown engine "${url.protocol}": ${hint}`);
  }
  if (url.protocol !== 'memory:' && url.hostname === '') {
    throw new Invalid(`${url.protocol}// needs a host: ${hint}, got "${text}"`);
  }
  return text;
}

const TRUE = new Set(['true', '1', 'yes', 'on']);
const FALSE = new Set(['false', '0', 'no', 'off']);

function describeRange(o: OptionSpec, what: string): string {
  if (o.min !== undefined && o.max !== undefined) return `${what} from ${o.min} to ${o.max}`;
  if (o.min !== undefined) return `${what} of at least ${o.min}`;
  if (o.max !== undefined) return `${what} of at most ${o.max}`;
  return what;
}

function inRange(o: OptionSpec, n: number, what: string, got: string): number {
  if ((o.min !== undefined && n < o.min) || (o.max !== undefined && n > o.max)) {
    throw new Invalid(`expected ${describeRange(o, what)}, got "${got}"`);
  }
  return n;
}

/** Parses one value of option `o`, from text (flags, env) or a parsed file value. */
function parseValue(o: OptionSpec, raw: unknown): OptionValue {
  const shown = JSON.stringify(raw);
  const value = ((): OptionValue => {
    switch (o.type) {
      case 'string': {
        if (typeof raw === 'number') return String(raw);
        if (typeof raw !== 'string' || raw === '')
          throw new Invalid(`expected a non-empty string, got ${shown}`);
        return raw;
      }
      case 'enum': {
        const text = String(raw);
        const choice = o.choices?.find((c) => c.toLowerCase() === text.toLowerCase());
        if (typeof raw !== 'string' || choice === undefined) {
          throw new Invalid(`expected one of ${o.choices?.join(', ')}, got ${shown}`);
        }
        return choice;
      }
      case 'boolean': {
        if (typeof raw === 'boolean') return raw;
        const text = String(raw).trim().toLowerCase();
        if (TRUE.has(text)) return true;
        if (FALSE.has(text)) return false;
        throw new Invalid(`expected true or false (also 1/0, yes/no, on/off), got ${shown}`);
      }
      case 'integer':
      case 'number': {
        const what = o.type === 'integer' ? 'an integer' : 'a number';
        const text = String(raw).trim();
        const ok =
          (typeof raw === 'number' || typeof raw === 'string') &&
          (o.type === 'integer' ? /^-?\d+$/ : /^-?\d+(?:\.\d+)?$/).test(text);
        if (!ok || !Number.isSafeInteger(Math.trunc(Number(text)))) {
          throw new Invalid(`expected ${describeRange(o, what)}, got ${shown}`);
        }
        return inRange(o, Number(text), what, text);
      }
      case 'duration':
      case 'bytes': {
        const { what, parse } = UNIT_VALUES[o.type];
        const n =
          typeof raw === 'number'
            ? Number.isInteger(raw) && raw >= 0
              ? raw
              : undefined
            : typeof raw === 'string'
              ? parse(raw)
              : undefined;
        if (n === undefined) throw new Invalid(`expected ${what}, got ${shown}`);
        return inRange(o, n, what, shown);
      }
      case 'entries': {
        // One entry per flag; whitespace separates entries in the environment (selectors are
        // IRIs, without spaces), a list in a file. Commas stay: they belong to the entries.
        const items = Array.isArray(raw)
          ? raw
          : typeof raw === 'string'
            ? raw.trim().split(/\s+/)
            : undefined;
        if (items === undefined || items.some((i) => typeof i !== 'string')) {
          throw new Invalid(
            `expected entries separated by spaces (or, in a file, a list of strings), got ${shown}`,
          );
        }
        return (items as string[]).map((i) => i.trim()).filter((i) => i !== '');
      }
      case 'list': {
        const items = Array.isArray(raw)
          ? raw
          : typeof raw === 'string'
            ? raw.split(',')
            : undefined;
        if (items === undefined || items.some((i) => typeof i !== 'string')) {
          throw new Invalid(
            `expected a comma-separated list (or, in a file, a list of strings), got ${shown}`,
          );
        }
        return (items as string[]).map((i) => i.trim()).filter((i) => i !== '');
      }
    }
  })();
  return o.check ? o.check(value) : value;
}

// ---------------------------------------------------------------------------------------------
// Sources

/** Ranks of sources: a higher one wins. */
const RANK = { default: 0, file: 1, env: 2, flag: 3 } as const;

interface Resolved {
  value: OptionValue | undefined;
  rank: number;
  /** Where the value came from, for messages: `--port`, `HERALD_PORT`, `x.yaml (key "port")`. */
  source: string;
  /** The directory relative paths in the value are resolved against. */
  baseDir: string | undefined;
}

/** Options of {@link loadConfig}. */
export interface LoadConfigOptions {
  /** The arguments after `herald serve`, e.g. `['--port', '9000', '--dev']`. */
  argv: readonly string[];
  /** The environment (`process.env` in the CLI); only `HERALD_*` variables are read. Default `{}`. */
  env?: Readonly<Record<string, string | undefined>>;
  /**
   * Reads a file (config file, `@key` file, TLS certificate and key) as UTF-8 text. Default
   * `fs.readFileSync(path, 'utf8')`; inject one in tests.
   */
  readFile?: (path: string) => string;
  /**
   * The process's open-file limit, from which the default connection limits are derived.
   * Default: read from `/proc/self/limits` (see `fd-limit.ts`); inject one in tests.
   */
  fdLimit?: FdLimit;
}

/** What {@link loadConfig} produced. */
export interface LoadedConfig {
  /** The configuration, every default applied and every value checked. */
  config: ServerConfig;
  /**
   * In dev mode with a generated publisher key: a publisher JWT signed with it
   * (`mercure.publish` and `mercure.subscribe` = `['*']`, no expiry; the key lives as long as
   * the process), printed for the person who started the hub. The dashboard page never carries
   * it: it gets short-lived tokens of its own (`--dev-token-ttl`).
   */
  devToken: string | undefined;
  /**
   * Things to tell the person starting the hub, one paragraph each (the dev-mode publisher
   * token and curl examples, missing keys, ignored `HERALD_*` variables, weak secrets…). They may
   * contain {@link HUB_URL_PLACEHOLDER}, to be replaced with the URL the server listens on.
   */
  notices: string[];
}

function distance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let prev = row[0]!;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const next = Math.min(row[j]! + 1, row[j - 1]! + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = row[j]!;
      row[j] = next;
    }
  }
  return row[b.length]!;
}

/**
 * ` (did you mean X?)` for the closest known name, or `''` when none is close (edit distance
 * at most 2, or a quarter of the name; names equal but for case and punctuation first). Used
 * for flags, `HERALD_*` variables, config keys and commands alike.
 * @param unknown - what was written
 * @param known - the names it could have meant
 */
export function suggest(unknown: string, known: Iterable<string>): string {
  const squash = (s: string): string => s.toLowerCase().replace(/[^a-z0-9]/g, '');
  let best: string | undefined;
  let bestDistance = Number.POSITIVE_INFINITY;
  for (const name of known) {
    const d =
      squash(name) === squash(unknown) ? 0 : distance(unknown.toLowerCase(), name.toLowerCase());
    if (d < bestDistance) {
      best = name;
      bestDistance = d;
    }
  }
  return best !== undefined && bestDistance <= Math.max(2, Math.floor(unknown.length / 4))
    ? ` (did you mean ${best}?)`
    : '';
}

function valueError(source: string, error: unknown): HeraldConfigError {
  if (error instanceof Invalid)
    return new HeraldConfigError('INVALID_VALUE', `${source}: ${error.message}`, source);
  return error as HeraldConfigError;
}

const HELP_HINT = 'herald serve --help lists every option';

/**
 * `HERALD_*` variables that `herald publish` and `herald tail` read (the hub's URL, a token),
 * and `herald token` (a private key to sign with): not `herald serve` options, and not worth a
 * notice when they are set in the same shell.
 */
export const CLIENT_ENV: ReadonlySet<string> = new Set([
  'HERALD_URL',
  'HERALD_TOKEN',
  'HERALD_PRIVATE_KEY',
  'HERALD_PUBLISHER_PRIVATE_KEY',
  'HERALD_SUBSCRIBER_PRIVATE_KEY',
]);

/** Reads `argv` into raw values per option name (lists accumulate, other values: last wins). */
function readFlags(argv: readonly string[]): Map<string, { value: OptionValue; source: string }> {
  const found = new Map<string, { value: OptionValue; source: string }>();
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (!arg.startsWith('--') || arg === '--') {
      throw new HeraldConfigError(
        'UNKNOWN_OPTION',
        `unexpected argument "${arg}": herald serve takes only --options (${HELP_HINT})`,
        arg,
      );
    }
    const eq = arg.indexOf('=');
    const flag = eq === -1 ? arg : arg.slice(0, eq);
    const inline = eq === -1 ? undefined : arg.slice(eq + 1);
    let o = BY_FLAG.get(flag);
    let negated = false;
    if (o === undefined && flag.startsWith('--no-')) {
      const positive = BY_FLAG.get(`--${flag.slice(5)}`);
      if (positive?.type === 'boolean') {
        o = positive;
        negated = true;
      }
    }
    if (o === undefined) {
      throw new HeraldConfigError(
        'UNKNOWN_OPTION',
        `unknown option ${flag}${suggest(flag, BY_FLAG.keys())}; ${HELP_HINT}`,
        flag,
      );
    }
    let value: OptionValue;
    if (o.type === 'boolean') {
      if (negated && inline !== undefined) {
        throw new HeraldConfigError(
          'INVALID_VALUE',
          `${flag} takes no value; write ${o.flag}=${inline} instead`,
          flag,
        );
      }
      try {
        value = negated ? false : inline === undefined ? true : parseValue(o, inline);
      } catch (error) {
        throw valueError(flag, error);
      }
    } else {
      let text = inline;
      if (text === undefined) {
        const next = argv[i + 1];
        // A value may start with dashes (PEM text: -----BEGIN…), but not look like a flag.
        if (next === undefined || /^--[a-z]/i.test(next)) {
          throw new HeraldConfigError(
            'MISSING_VALUE',
            `${flag} needs a value: ${flag} ${o.valueName} (or ${flag}=…)`,
            flag,
          );
        }
        text = next;
        i += 1;
      }
      try {
        value = parseValue(o, text);
      } catch (error) {
        throw valueError(flag, error);
      }
      const before = found.get(o.name)?.value;
      if ((o.type === 'list' || o.type === 'entries') && Array.isArray(before)) {
        try {
          value = parseValue(o, [...before, ...(value as string[])]);
        } catch (error) {
          throw valueError(flag, error);
        }
      }
    }
    found.set(o.name, { value, source: flag });
  }
  return found;
}

function readConfigFile(
  path: string,
  source: string,
  readFile: (path: string) => string,
): { values: Map<string, { value: OptionValue; source: string }>; baseDir: string } {
  const full = resolve(path);
  let text: string;
  try {
    text = readFile(full);
  } catch (error) {
    throw new HeraldConfigError(
      'FILE',
      `${source}: cannot read config file ${full}: ${(error as Error).message}`,
      source,
    );
  }
  let data: unknown;
  const asJson = extname(full).toLowerCase() === '.json' || /^\s*\{/.test(text);
  try {
    data = asJson ? JSON.parse(text) : parseYaml(text);
  } catch (error) {
    throw new HeraldConfigError(
      'FILE',
      `${source}: ${full} is not valid ${asJson ? 'JSON' : 'YAML'}: ${(error as Error).message.split('\n')[0]}`,
      source,
    );
  }
  data ??= {};
  if (typeof data !== 'object' || Array.isArray(data)) {
    throw new HeraldConfigError(
      'FILE',
      `${source}: ${full} must hold a mapping of option keys to values (e.g. "port: 8080")`,
      source,
    );
  }
  const values = new Map<string, { value: OptionValue; source: string }>();
  for (const [key, raw] of Object.entries(data as Record<string, unknown>)) {
    const where = `${full} (key "${key}")`;
    const o = BY_FILE_KEY.get(key);
    if (o === undefined) {
      throw new HeraldConfigError(
        'UNKNOWN_OPTION',
        `${where}: unknown key${suggest(key, BY_FILE_KEY.keys())}; keys are the camelCase flag names (${HELP_HINT})`,
        where,
      );
    }
    if (raw === null || raw === undefined) continue;
    try {
      values.set(o.name, { value: parseValue(o, raw), source: where });
    } catch (error) {
      throw valueError(where, error);
    }
  }
  return { values, baseDir: dirname(full) };
}

// ---------------------------------------------------------------------------------------------
// Keys, TLS, dev token

/**
 * Reads a JWT key: the value itself, unless it starts with `@`, which names a file (`@@`
 * escapes a literal `@`). Relative paths from a config file are relative to that file.
 */
function readJwtKey(r: Resolved, readFile: (path: string) => string): string {
  const value = String(r.value);
  if (value.startsWith('@@')) return value.slice(1);
  if (!value.startsWith('@')) return value;
  return readSourceFile(r, value.slice(1), readFile).text;
}

function readSourceFile(
  r: Resolved,
  path: string,
  readFile: (path: string) => string,
): { text: string; path: string } {
  const full = resolve(r.baseDir ?? '.', path);
  try {
    return { text: readFile(full), path: full };
  } catch (error) {
    throw new HeraldConfigError(
      'FILE',
      `${r.source}: cannot read ${full}: ${(error as Error).message}`,
      r.source,
    );
  }
}

const HMAC_BYTES: Record<string, number> = { HS256: 32, HS384: 48, HS512: 64 };

/** Checks the dashboard credentials once read (a `@file`'s final line break is dropped). */
function checkCredentialsFile(text: string, source: string): string {
  const value = text.replace(/\r?\n$/, '');
  try {
    return checkCredentials(value, false);
  } catch (error) {
    throw valueError(source, error);
  }
}

/**
 * Whether a listen host is loopback only: `localhost` (both loopback addresses), 127.0.0.0/8
 * or ::1.
 * @param host - the host as configured (`''` = every interface)
 */
export function isLoopback(host: string): boolean {
  return (
    host === 'localhost' ||
    host === '::1' ||
    /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host) ||
    /^::ffff:127\./i.test(host)
  );
}

/**
 * Checks that `key` can verify `alg` tokens (with the same loader the server uses); returns a
 * warning for a weak HMAC secret.
 */
function checkKey(
  key: string,
  alg: string,
  keySource: string,
  algSource: string,
): string | undefined {
  const loaded = loadVerificationKey({ key, alg });
  if (!loaded.ok) {
    throw new HeraldConfigError(
      'INVALID_VALUE',
      `${keySource}: ${loaded.problem} (algorithm from ${algSource}); ${loaded.hint}`,
      keySource,
    );
  }
  const need = HMAC_BYTES[alg];
  if (need !== undefined && !key.trim().startsWith('{') && Buffer.byteLength(key) < need) {
    return `${keySource}: the ${alg} secret is only ${Buffer.byteLength(key)} bytes; use at least ${need} random bytes (e.g. openssl rand -base64 ${need}).`;
  }
  return undefined;
}

/**
 * Stands for the hub's base URL in {@link LoadedConfig.notices} (only known once the server
 * listens, e.g. with port 0): replace it with the real URL when printing.
 */
export const HUB_URL_PLACEHOLDER = '{hub-url}';

const b64url = (data: string | Buffer): string => Buffer.from(data).toString('base64url');

/**
 * Signs the dev-mode publisher JWT: HS256 with `secret` (its UTF-8 bytes, as Mercure hubs and
 * `jose` read a string secret), claims `{ mercure: { publish: ['*'], subscribe: ['*'] } }`,
 * no expiry — or the given `claims`.
 * @param secret - the HMAC secret
 * @param claims - the payload (default: the claims above)
 * @returns the compact JWT
 */
export function createDevToken(
  secret: string,
  claims: Readonly<Record<string, unknown>> = { mercure: { publish: ['*'], subscribe: ['*'] } },
): string {
  const header = b64url(JSON.stringify({ alg: 'HS256', typ: 'JWT' }));
  const payload = b64url(JSON.stringify(claims));
  const signature = createHmac('sha256', secret).update(`${header}.${payload}`).digest('base64url');
  return `${header}.${payload}.${signature}`;
}

// ---------------------------------------------------------------------------------------------
// loadConfig

/**
 * Reads the `herald serve` configuration from flags, `HERALD_*` environment variables and an
 * optional config file (`--config` / `HERALD_CONFIG`, JSON or YAML), checks every value and
 * applies the defaults. For each option a flag beats the environment, which beats the file,
 * which beats the default. Where a general and a specific option meet (`--addr` and `--port`,
 * `--jwt-key` and `--publisher-jwt-key`), the one from the stronger source wins, and on a tie
 * the specific one.
 *
 * Reads files (config, `@key` files, TLS) synchronously through `readFile`; does nothing else.
 * @param options - the arguments after `serve`, the environment and an optional file reader
 * @returns the configuration and notices to print at startup
 * @throws {@link HeraldConfigError} naming the flag, variable or file key at fault
 */
export function loadConfig(options: LoadConfigOptions): LoadedConfig {
  const env = options.env ?? {};
  const readFile = options.readFile ?? ((path: string) => readFileSync(path, 'utf8'));
  const notices: string[] = [];

  const flags = readFlags(options.argv);

  const fromEnv = new Map<string, { value: OptionValue; source: string }>();
  for (const [name, text] of Object.entries(env)) {
    if (!name.startsWith('HERALD_') || text === undefined || text === '') continue;
    if (CLIENT_ENV.has(name)) continue;
    const o = BY_ENV.get(name);
    if (o === undefined) {
      notices.push(`Ignoring ${name}: not a herald serve option${suggest(name, BY_ENV.keys())}.`);
      continue;
    }
    try {
      fromEnv.set(o.name, { value: parseValue(o, text), source: name });
    } catch (error) {
      throw valueError(name, error);
    }
  }

  const configRef = flags.get('config') ?? fromEnv.get('config');
  const file =
    configRef === undefined
      ? undefined
      : readConfigFile(String(configRef.value), configRef.source, readFile);

  const resolved = new Map<string, Resolved>();
  for (const o of SERVE_OPTIONS) {
    const hit =
      (flags.has(o.name) && { ...flags.get(o.name)!, rank: RANK.flag }) ||
      (fromEnv.has(o.name) && { ...fromEnv.get(o.name)!, rank: RANK.env }) ||
      (file?.values.has(o.name) && { ...file.values.get(o.name)!, rank: RANK.file }) ||
      undefined;
    resolved.set(
      o.name,
      hit
        ? {
            value: hit.value,
            rank: hit.rank,
            source: hit.source,
            baseDir: hit.rank === RANK.file ? file?.baseDir : undefined,
          }
        : {
            value: o.default,
            rank: RANK.default,
            source: `the default of ${o.flag}`,
            baseDir: undefined,
          },
    );
  }
  const get = (name: string): Resolved => {
    spec(name);
    return resolved.get(name)!;
  };
  const num = (name: string): number => get(name).value as number;
  const bool = (name: string): boolean => get(name).value === true;
  const isSet = (name: string): boolean => get(name).rank > RANK.default;
  /** The specific option unless the general one comes from a stronger source. */
  const pick = (specific: string, general: string): Resolved => {
    const s = get(specific);
    const g = get(general);
    return s.rank >= g.rank && s.value !== undefined ? s : g;
  };

  // Address.
  const addr = get('addr');
  const port = get('port');
  let host = '';
  let portNumber = port.value as number;
  if (addr.value !== undefined) {
    const parsed = parseAddr(String(addr.value));
    host = parsed.host;
    if (addr.rank > port.rank) portNumber = parsed.port;
  }

  // TLS.
  const cert = get('tlsCert');
  const key = get('tlsKey');
  let tls: TlsConfig | undefined;
  if (cert.value !== undefined || key.value !== undefined) {
    const [given, missing] = cert.value !== undefined ? [cert, '--tls-key'] : [key, '--tls-cert'];
    if (cert.value === undefined || key.value === undefined) {
      throw new HeraldConfigError(
        'CONFLICT',
        `${given.source} is set but ${missing} is not: TLS needs both the certificate and its private key (PEM files)`,
        given.source,
      );
    }
    const certFile = readSourceFile(cert, String(cert.value), readFile);
    const keyFile = readSourceFile(key, String(key.value), readFile);
    let certificate: X509Certificate;
    try {
      certificate = new X509Certificate(certFile.text);
    } catch (error) {
      throw new HeraldConfigError(
        'INVALID_VALUE',
        `${cert.source}: ${certFile.path} is not a PEM certificate (-----BEGIN CERTIFICATE-----): ${(error as Error).message}`,
        cert.source,
      );
    }
    let privateKey: ReturnType<typeof createPrivateKey>;
    try {
      privateKey = createPrivateKey(keyFile.text);
    } catch (error) {
      throw new HeraldConfigError(
        'INVALID_VALUE',
        `${key.source}: ${keyFile.path} is not an unencrypted PEM private key: ${(error as Error).message}`,
        key.source,
      );
    }
    if (!certificate.checkPrivateKey(privateKey)) {
      throw new HeraldConfigError(
        'CONFLICT',
        `${key.source}: the private key ${keyFile.path} does not belong to the certificate ${certFile.path} (${cert.source})`,
        key.source,
      );
    }
    tls = { cert: certFile.path, key: keyFile.path };
    if (bool('h2c')) {
      throw new HeraldConfigError(
        'CONFLICT',
        `${get('h2c').source}: h2c is cleartext HTTP/2; with --tls-cert/--tls-key the hub already speaks HTTP/2 over TLS — drop one of them`,
        get('h2c').source,
      );
    }
  }

  // Keys.
  const jwtKey = (which: 'publisher' | 'subscriber'): JwtKeyConfig | undefined => {
    const k = pick(`${which}JwtKey`, 'jwtKey');
    if (k.value === undefined) return undefined;
    // An algorithm goes with a key from the same or a stronger source.
    const specificAlg = get(`${which}JwtAlg`);
    const a =
      specificAlg.value !== undefined && specificAlg.rank >= k.rank ? specificAlg : get('jwtAlg');
    const material = readJwtKey(k, readFile);
    const alg = String(a.value);
    const warning = checkKey(material, alg, k.source, a.source);
    if (warning !== undefined && !notices.includes(warning)) notices.push(warning);
    return { key: material, alg };
  };
  let publisherKey = jwtKey('publisher');
  let subscriberKey = jwtKey('subscriber');
  const jwksUrl = get('jwksUrl').value as string | undefined;

  // Dev mode.
  const dev = bool('dev');
  const anonymous = isSet('anonymous') ? bool('anonymous') : dev;
  const dashboard = isSet('dashboard') ? bool('dashboard') : dev;
  // Dev mode hands out a publishing token to whoever opens the dashboard: it listens on the
  // loopback addresses only, unless an address is given.
  if (dev && addr.value === undefined) host = 'localhost';
  const credentials = get('dashboardCredentials');
  const dashboardCredentials =
    credentials.value === undefined
      ? undefined
      : checkCredentialsFile(readJwtKey(credentials, readFile), credentials.source);
  const base = HUB_URL_PLACEHOLDER;
  let devToken: string | undefined;
  if (dev && publisherKey === undefined) {
    const secret = randomBytes(32).toString('base64url');
    publisherKey = { key: secret, alg: 'HS256' };
    // Without a subscriber key of its own, the generated key verifies subscribers too: the
    // printed token then works as the docs use it, as a publisher's and as a subscriber's
    // (private updates end to end). Dev mode listens on loopback only, the token is printed to
    // this terminal alone, and the dashboard page's tokens carry no subscribe claim.
    const sharedKey = subscriberKey === undefined && jwksUrl === undefined;
    if (sharedKey) subscriberKey = publisherKey;
    devToken = createDevToken(secret);
    notices.push(
      [
        sharedKey
          ? 'Dev mode: a key was generated for this run (HS256), for publishers and subscribers; anonymous subscribers are allowed too.'
          : 'Dev mode: a publisher key was generated for this run (HS256); anonymous subscribers are allowed.',
        sharedKey
          ? 'JWT for this terminal (may publish to every topic and subscribe to every topic, private updates included; valid until the hub stops, the key is new every run):'
          : 'Publisher JWT for this terminal (may publish to every topic; valid until the hub stops, the key is new every run):',
        '',
        `  ${devToken}`,
        '',
        'Try it:',
        `  curl -N '${base}/.well-known/mercure?topic=/demo'`,
        `  curl -H 'Authorization: Bearer ${devToken}' -d topic=/demo -d data=hello ${base}/.well-known/mercure`,
        ...(sharedKey
          ? [
              'Private updates (only subscribers whose token allows the topic receive them):',
              `  curl -N -H 'Authorization: Bearer ${devToken}' '${base}/.well-known/mercure?topic=/demo'`,
              `  curl -H 'Authorization: Bearer ${devToken}' -d topic=/demo -d data=secret -d private=on ${base}/.well-known/mercure`,
            ]
          : []),
      ].join('\n'),
    );
  } else if (dev) {
    notices.push(
      'Dev mode: anonymous subscribers are allowed; the configured publisher key is used.',
    );
  }
  if (dev && dashboard && !isLoopback(host) && dashboardCredentials === undefined) {
    notices.push(
      `Dev mode on ${host === '' ? 'every interface' : host} (${addr.source}): anyone who can reach this address can open the dashboard${devToken === undefined ? '' : ', and publish to every topic with the token its page carries'}. Leave --addr out to listen on localhost only.`,
    );
  }
  if (
    dashboard &&
    !dev &&
    dashboardCredentials === undefined &&
    subscriberKey === undefined &&
    jwksUrl === undefined
  ) {
    notices.push(
      'The dashboard needs authentication outside dev mode, and nothing can open it: set --dashboard-credentials user:password, or a subscriber key (--jwt-key, --subscriber-jwt-key or --jwks-url) and sign a token with the claim {"herald":{"dashboard":true}}.',
    );
  }
  if (dev && subscriberKey === undefined && jwksUrl === undefined && anonymous) {
    notices.push(
      'No subscriber key: subscribers are anonymous and receive public updates only (set --subscriber-jwt-key or --jwt-key to authorize private ones).',
    );
  }
  if (!dev && publisherKey === undefined && jwksUrl === undefined) {
    notices.push(
      'No publisher key: every publish is refused (401) until you set --jwt-key, --publisher-jwt-key or --jwks-url (or run with --dev to get a generated key and token).',
    );
  }
  if (!anonymous && subscriberKey === undefined && jwksUrl === undefined) {
    notices.push(
      'Neither anonymous subscribers nor a subscriber key: every subscription is refused (401) until you set --anonymous, --jwt-key, --subscriber-jwt-key or --jwks-url.',
    );
  }

  // Timeouts: node:http refuses a headers timeout longer than the request timeout.
  const headersTimeout = get('headersTimeout');
  const requestTimeout = get('requestTimeout');
  if (
    (requestTimeout.value as number) > 0 &&
    (headersTimeout.value as number) > (requestTimeout.value as number)
  ) {
    const at = headersTimeout.rank >= requestTimeout.rank ? headersTimeout : requestTimeout;
    throw new HeraldConfigError(
      'CONFLICT',
      `${headersTimeout.source} (${headersTimeout.value} ms) is longer than ${requestTimeout.source} (${requestTimeout.value} ms): the headers are part of the request, so the headers timeout must not exceed the request timeout`,
      at.source,
    );
  }

  // A range that covers every address trusts every client's X-Forwarded-For: allowed (a hub
  // reachable only through its proxies), but worth saying, since anyone else can then pick the
  // address they are counted under.
  const trustedProxies = get('trustedProxies');
  const everyone = (trustedProxies.value as string[]).filter((entry) => /\/0$/.test(entry));
  if (everyone.length > 0) {
    notices.push(
      `${trustedProxies.source}: ${everyone.join(', ')} trusts every address, so any client that reaches the hub directly can choose the IP it is limited and logged under (X-Forwarded-For); list only your proxies' addresses unless nothing but them can connect.`,
    );
  }

  // Connection limits: the defaults follow the open-file limit, each below the one before, so
  // that descriptors never run out before a limit answers (fd-limit.ts).
  const fdLimit = options.fdLimit ?? readFdLimit();
  const maxSockets = isSet('maxSockets') ? num('maxSockets') : defaultSockets(fdLimit.limit);
  const maxConnections = isSet('maxConnections')
    ? num('maxConnections')
    : defaultConnections(maxSockets > 0 ? maxSockets : defaultSockets(fdLimit.limit));
  const maxSocketsPerIp = isSet('maxSocketsPerIp')
    ? num('maxSocketsPerIp')
    : defaultSocketsPerIp(num('maxConnectionsPerIp'), maxSockets);
  if (
    fdLimit.measured &&
    isSet('maxSockets') &&
    (maxSockets === 0 || maxSockets > fdLimit.limit - 64)
  ) {
    notices.push(
      `${get('maxSockets').source}: ${maxSockets === 0 ? 'no socket limit' : `${maxSockets} sockets`} with an open-file limit of ${fdLimit.limit}: past it the hub cannot accept connections (/healthz included) nor open files; raise the limit (ulimit -n) or lower --max-sockets.`,
    );
  }

  // Each stream may hold --queue-bytes: an address's budget below that would cut a single
  // subscriber that --queue-bytes lets fall behind.
  const queueBytes = num('queueBytes');
  const queueBytesPerIp = isSet('queueBytesPerIp')
    ? num('queueBytesPerIp')
    : DEFAULT_QUEUE_BYTES_PER_IP_QUEUES * queueBytes;
  if (queueBytesPerIp > 0 && queueBytesPerIp < queueBytes) {
    const perIp = get('queueBytesPerIp');
    throw new HeraldConfigError(
      'CONFLICT',
      `${perIp.source} (${queueBytesPerIp} bytes) is less than --queue-bytes (${queueBytes} bytes): one subscriber's queue must fit in its address's budget; raise it or set 0 for no limit`,
      perIp.source,
    );
  }

  const config: ServerConfig = {
    host,
    port: portNumber,
    tls,
    h2c: bool('h2c'),
    engine: String(get('engine').value),
    historySize: num('historySize'),
    historyBytes: num('historyBytes'),
    historyTtlMs: num('historyTtl'),
    historyTopics: (get('historyTopic').value as string[]).map(parseHistoryTopic),
    heartbeatMs: num('heartbeat'),
    queueBytes: num('queueBytes'),
    stallTimeoutMs: num('stallTimeout'),
    publisherKey,
    subscriberKey,
    jwksUrl,
    jwksMaxBytes: num('jwksMaxBytes'),
    jwksTimeoutMs: num('jwksTimeout'),
    anonymous,
    subscriptions: bool('subscriptions'),
    corsOrigins: get('corsOrigins').value as string[],
    publishOrigins: get('publishOrigins').value as string[],
    dev,
    dashboard,
    devPublisherKey: devToken !== undefined,
    devTokenTtlMs: num('devTokenTtl'),
    dashboardCredentials,
    trustedProxies: get('trustedProxies').value as string[],
    logLevel: get('logLevel').value as LogLevel,
    shutdownGraceMs: num('shutdownGrace'),
    limits: {
      maxConnections,
      maxConnectionsPerIp: num('maxConnectionsPerIp'),
      queueBytesPerIp,
      maxTopics: num('maxTopics'),
      maxUpdateTopics: num('maxUpdateTopics'),
      maxTemplateCost: num('maxTemplateCost'),
      maxSubscriptionCost: num('maxSubscriptionCost'),
      maxTemplateCostPerIp: num('maxTemplateCostPerIp'),
      maxTemplateCostTotal: num('maxTemplateCostTotal'),
      maxBodyBytes: num('maxBodyBytes'),
      publishRate: num('publishRate'),
      subscriptionEventsRate: num('subscriptionEventsRate'),
      headersTimeoutMs: num('headersTimeout'),
      requestTimeoutMs: num('requestTimeout'),
      maxSockets,
      maxSocketsPerIp,
      idleTimeoutMs: num('idleTimeout'),
      fdLimit,
    },
  };
  return { config, notices, devToken };
}

// ---------------------------------------------------------------------------------------------
// Help

function wrap(text: string, width: number, indent: string): string {
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(/\s+/)) {
    if (line !== '' && indent.length + line.length + 1 + word.length > width) {
      lines.push(indent + line);
      line = word;
    } else {
      line = line === '' ? word : `${line} ${word}`;
    }
  }
  if (line !== '') lines.push(indent + line);
  return lines.join('\n');
}

function defaultText(o: OptionSpec): string {
  if (o.defaultText !== undefined) return o.defaultText;
  if (o.default === undefined) return 'none';
  if (Array.isArray(o.default)) return o.default.length === 0 ? 'none' : o.default.join(',');
  if (o.type === 'boolean') return o.default ? 'on' : 'off';
  return String(o.default);
}

/**
 * The text of `herald serve --help`, generated from {@link SERVE_OPTIONS}: every option with its
 * flag, environment variable, config file key, default and description.
 * @returns the help text, ending with a newline
 */
export function formatServeHelp(): string {
  const out: string[] = [
    'Usage: herald serve [options]',
    '',
    wrap(
      'Runs the Herald hub: Mercure-compatible publish (POST /.well-known/mercure) and subscribe (GET /.well-known/mercure?topic=…) over Server-Sent Events.',
      100,
      '',
    ),
    '',
    wrap(
      'Every option can be given as a flag, as an environment variable or as a key in a config file (--config). A flag beats the environment, which beats the file, which beats the default. On/off options take --name, --no-name or --name=true|false.',
      100,
      '',
    ),
  ];
  let group = '';
  for (const o of SERVE_OPTIONS) {
    if (o.group !== group) {
      group = o.group;
      out.push('', `${group}:`);
    }
    const flag = o.flag === '--dashboard' ? '--dashboard, --no-dashboard' : o.flag;
    out.push(`  ${flag}${o.valueName ? ` ${o.valueName}` : ''}`);
    out.push(wrap(o.description, 100, '      '));
    const where = [
      `env ${o.env}`,
      o.fileKey ? `file key ${o.fileKey}` : 'not in files',
      `default ${defaultText(o)}`,
    ];
    out.push(`      ${where.join(' · ')}`);
  }
  out.push('', 'Other:', '  -h, --help', '      Show this help.', '');
  return out.join('\n');
}
