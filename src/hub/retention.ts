/**
 * Retention classes made from topic selectors, and which subscribers a loss in a class can
 * concern.
 *
 * An engine keeps each {@link RetentionClass} under bounds of its own, so a busy topic evicts
 * only its own history. When a class evicts events a resuming client had not seen, the hub must
 * say so (`herald.gap`) to every subscriber that could have received one of them — and to
 * nobody else, or a busy topic would make every reader see gaps. An event belongs to a class
 * only when the class's selector claims *every* one of its topics, so a subscriber can receive
 * an event of the class only if one of its selectors can match a topic the class's selector
 * matches. {@link selectorsMayOverlap} answers that question conservatively (when unsure:
 * yes), from the selectors' texts alone.
 *
 * @packageDocumentation
 */

import { createHash } from 'node:crypto';
import type { RetentionClass } from '../engines/engine.js';
import { type CompiledSelector, compileSelector } from './topics.js';

/** A retention class described by a topic selector, as {@link retentionClass} takes it. */
export interface TopicRetention {
  /** The topic selector (exact topic, URI template or `*`) of the class's events. */
  selector: string;
  /** Most events kept in the class; default: the engine's `maxEvents`. */
  maxEvents?: number | undefined;
  /** Most bytes kept in the class; default: the engine's `maxBytes`. */
  maxBytes?: number | undefined;
  /**
   * The class's name (see `RetentionClass.name`); default: derived from the selector (`t` and
   * 15 characters of its SHA-256), the same on every node.
   */
  name?: string | undefined;
}

/**
 * The name a class gets from its selector when none is given: stable across nodes and
 * restarts, and usable in Redis keys and NATS subjects.
 */
export function retentionClassName(selector: string): string {
  return `t${createHash('sha256').update(selector, 'utf8').digest('base64url').slice(0, 15)}`;
}

/**
 * Makes a retention class from a selector, for an engine's `retention` option.
 *
 * ```ts
 * const engine = redisEngine({
 *   maxEvents: 10_000,
 *   retention: [retentionClass({ selector: 'https://example.com/ticks/{id}', maxEvents: 500 })],
 * });
 * ```
 *
 * @throws `HeraldTopicError` when the selector looks like a URI template but is not one
 */
export function retentionClass(spec: TopicRetention): RetentionClass {
  const compiled = compileSelector(spec.selector, { strict: true });
  return {
    name: spec.name ?? retentionClassName(spec.selector),
    selector: spec.selector,
    matches: (topic) => compiled.matches(topic),
    maxEvents: spec.maxEvents,
    maxBytes: spec.maxBytes,
  };
}

/** The literal text every topic a template selector matches starts with. */
function literalPrefix(selector: CompiledSelector): string {
  const brace = selector.source.indexOf('{');
  return brace === -1 ? selector.source : selector.source.slice(0, brace);
}

/**
 * Whether some topic could be matched by both selectors. Exact when one of them is an exact
 * topic; for two URI templates, `false` only when their leading literal texts differ (neither
 * is a prefix of the other), which is what keeps `/.well-known/…/{+x}` apart from
 * `https://example.com/{id}`. Never `false` when a topic could match both.
 */
export function selectorsMayOverlap(a: string, b: string): boolean {
  const x = compileSelector(a);
  const y = compileSelector(b);
  if (x.kind === 'all' || y.kind === 'all') return true;
  if (x.kind === 'exact') return y.matches(x.source);
  if (y.kind === 'exact') return x.matches(y.source);
  const px = literalPrefix(x);
  const py = literalPrefix(y);
  return px.startsWith(py) || py.startsWith(px);
}

/**
 * Whether a subscriber with these selectors could receive an event of `cls` (conservative:
 * `true` when the class has no selector).
 */
export function classConcerns(cls: RetentionClass, selectors: readonly string[]): boolean {
  const selector = cls.selector;
  if (selector === undefined) return true;
  for (const s of selectors) if (selectorsMayOverlap(s, selector)) return true;
  return false;
}
