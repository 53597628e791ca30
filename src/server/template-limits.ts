/**
 * What URI-template selectors may cost the hub, checked before anything is compiled.
 *
 * A template's cost is the memory its compiled matcher may hold, estimated from its parse
 * (`selectorCost`): its automaton, alphabet tables and DFA cache at their bounds. Compiling takes
 * time in proportion, and so does matching it against a topic in the worst case. Four limits
 * bound it:
 *
 * - one selector (`--max-template-cost`, 400), topics and token claims alike;
 * - the distinct templates of one subscription, its token's `mercure.subscribe` included, or of
 *   one publisher token's `mercure.publish` (`--max-subscription-cost`, 400): what one request
 *   makes the hub compile;
 * - the distinct templates the open subscriptions of one client address hold
 *   (`--max-template-cost-per-ip`, 429), counted under the address the connection limit uses;
 * - the distinct templates all open subscriptions hold (`--max-template-cost-total`, 429).
 *
 * Exact topics and `*` cost nothing here (`--max-topics` bounds them).
 *
 * @packageDocumentation
 */

import { Gauge, type Registry } from 'prom-client';
import { selectorCacheStats, selectorCost } from '../hub/index.js';
import type { LimitsConfig } from './config.js';
import { HttpError } from './respond.js';

/**
 * A template selector and its estimated cost: its compiled template, shared by the selectors of
 * its language (which differ only in the names of unnamed variables), and its own small part.
 */
export interface TemplateCharge {
  readonly selector: string;
  /** The template's language key. */
  readonly language: string;
  /** Bytes of the compiled template, counted once per language. */
  readonly templateBytes: number;
  /** Bytes of the selector itself, counted once per selector. */
  readonly selectorBytes: number;
}

/** Where selectors come from, for the refusal's reason. */
export type SelectorOrigin = 'topic' | 'mercure.subscribe' | 'mercure.publish';

/** A byte count as a person reads it. */
function size(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${Math.ceil(bytes / 1024)} KiB`;
  return `${(bytes / (1024 * 1024)).toFixed(1)} MiB`;
}

/** A selector for a message, shortened when long. */
function quote(selector: string): string {
  return JSON.stringify(selector.length > 120 ? `${selector.slice(0, 120)}…` : selector);
}

const WHERE: Record<SelectorOrigin, string> = {
  topic: 'topic selector',
  'mercure.subscribe': "the token's mercure.subscribe selector",
  'mercure.publish': "the token's mercure.publish selector",
};

/**
 * The template selectors among `selectors` with their estimated costs (each distinct selector
 * once), checked against the per-selector limit. Parses only: nothing is compiled.
 *
 * @throws HttpError 400 naming the selector, its cost, the limit and its flag
 */
export function chargeTemplates(
  selectors: Iterable<string>,
  origin: SelectorOrigin,
  limits: Pick<LimitsConfig, 'maxTemplateCost'>,
): TemplateCharge[] {
  const charges: TemplateCharge[] = [];
  const seen = new Set<string>();
  for (const selector of selectors) {
    if (seen.has(selector)) continue;
    seen.add(selector);
    const cost = selectorCost(selector);
    if (cost.kind !== 'template') continue;
    if (cost.error !== undefined) {
      // Over the library's own bounds (states, variables per expression).
      throw new HttpError(400, `${WHERE[origin]} refused: ${cost.error.message}`);
    }
    const limit = limits.maxTemplateCost;
    if (limit > 0 && cost.bytes > limit) {
      throw new HttpError(
        400,
        `${WHERE[origin]} ${quote(selector)} would take about ${size(cost.bytes)} compiled (${cost.states} automaton states); the limit is ${size(limit)} per template (--max-template-cost): use fewer expressions or shorter ":n" prefixes`,
      );
    }
    charges.push({
      selector,
      language: cost.language!,
      templateBytes: cost.templateBytes,
      selectorBytes: cost.bytes - cost.templateBytes,
    });
  }
  return charges;
}

/**
 * Checks that `charges` (one request's distinct templates, from every origin) fit the
 * per-subscription limit.
 *
 * @param what - what the charges are of, e.g. "this subscription" or "the token's mercure.publish"
 * @throws HttpError 400 with the total, the limit and its flag
 */
export function checkRequestCost(
  charges: readonly TemplateCharge[],
  what: string,
  limits: Pick<LimitsConfig, 'maxSubscriptionCost'>,
): void {
  const limit = limits.maxSubscriptionCost;
  if (limit <= 0) return;
  const holdings = new Holdings();
  holdings.take(distinct(charges));
  if (holdings.bytes > limit) {
    throw new HttpError(
      400,
      `the ${holdings.selectors.size} URI templates of ${what} would take about ${size(holdings.bytes)} compiled together; the limit is ${size(limit)} (--max-subscription-cost): use fewer templates, e.g. one template with a variable instead of many`,
    );
  }
}

/**
 * The distinct templates one holder (a client address, the hub, a request) holds: each
 * language's compiled template once, each selector once.
 */
class Holdings {
  readonly selectors = new Map<string, number>();
  readonly languages = new Map<string, number>();
  bytes = 0;

  /** Bytes `charges` (distinct selectors) would add. */
  added(charges: readonly TemplateCharge[]): number {
    let bytes = 0;
    const languages = new Set<string>();
    for (const c of charges) {
      if (!this.selectors.has(c.selector)) bytes += c.selectorBytes;
      if (!this.languages.has(c.language) && !languages.has(c.language)) {
        languages.add(c.language);
        bytes += c.templateBytes;
      }
    }
    return bytes;
  }

  /** Takes `charges` (distinct selectors). */
  take(charges: readonly TemplateCharge[]): void {
    for (const c of charges) {
      const n = this.selectors.get(c.selector) ?? 0;
      if (n === 0) this.bytes += c.selectorBytes;
      this.selectors.set(c.selector, n + 1);
      const m = this.languages.get(c.language) ?? 0;
      if (m === 0) this.bytes += c.templateBytes;
      this.languages.set(c.language, m + 1);
    }
  }

  /** Gives back what {@link Holdings.take} took. */
  give(charges: readonly TemplateCharge[]): void {
    for (const c of charges) {
      const n = this.selectors.get(c.selector)!;
      if (n === 1) {
        this.selectors.delete(c.selector);
        this.bytes -= c.selectorBytes;
      } else {
        this.selectors.set(c.selector, n - 1);
      }
      const m = this.languages.get(c.language)!;
      if (m === 1) {
        this.languages.delete(c.language);
        this.bytes -= c.templateBytes;
      } else {
        this.languages.set(c.language, m - 1);
      }
    }
  }
}

/** Holds nothing: what a new address would add. */
const EMPTY = new Holdings();

/**
 * Accounts the distinct templates held by open subscriptions, per client address and in all,
 * and refuses a subscription that would take either over its limit. A template held by several
 * subscriptions counts once per address (and once in all).
 */
export class TemplateBudget {
  readonly #perIp: number;
  readonly #total: number;
  readonly #byIp = new Map<string, Holdings>();
  readonly #all = new Holdings();
  /** Subscriptions refused by a limit, by scope. */
  readonly refused = { ip: 0, total: 0 };

  /**
   * @param limits - `maxTemplateCostPerIp` and `maxTemplateCostTotal` (0 = no limit)
   */
  constructor(limits: Pick<LimitsConfig, 'maxTemplateCostPerIp' | 'maxTemplateCostTotal'>) {
    this.#perIp = limits.maxTemplateCostPerIp;
    this.#total = limits.maxTemplateCostTotal;
  }

  /** Estimated bytes of the distinct templates held by open subscriptions. */
  get bytes(): number {
    return this.#all.bytes;
  }

  /** Distinct template selectors held by open subscriptions. */
  get templates(): number {
    return this.#all.selectors.size;
  }

  /** Estimated bytes of the distinct templates held by the subscriptions of `ip`. */
  bytesOf(ip: string): number {
    return this.#byIp.get(ip)?.bytes ?? 0;
  }

  /**
   * Takes `charges` (one subscription's distinct templates) for `ip`.
   *
   * @returns a function that gives them back (idempotent)
   * @throws HttpError 429 with `Retry-After` when the address's or the hub's limit is reached
   */
  acquire(ip: string, all: readonly TemplateCharge[]): () => void {
    const charges = distinct(all);
    if (charges.length === 0) return () => {};
    let held = this.#byIp.get(ip);
    const ipBytes = (held?.bytes ?? 0) + (held ?? EMPTY).added(charges);
    if (this.#perIp > 0 && ipBytes > this.#perIp) {
      this.refused.ip++;
      throw new HttpError(
        429,
        `the URI templates held by subscriptions from ${ip} would take about ${size(ipBytes)} compiled; the limit is ${size(this.#perIp)} per client address (--max-template-cost-per-ip): close other subscriptions or subscribe to fewer distinct templates`,
        { 'retry-after': '5' },
      );
    }
    const allBytes = this.#all.bytes + this.#all.added(charges);
    if (this.#total > 0 && allBytes > this.#total) {
      this.refused.total++;
      throw new HttpError(
        429,
        `the hub's URI templates would take about ${size(allBytes)} compiled; the limit is ${size(this.#total)} for all subscriptions (--max-template-cost-total): retry later`,
        { 'retry-after': '5' },
      );
    }
    if (held === undefined) {
      held = new Holdings();
      this.#byIp.set(ip, held);
    }
    held.take(charges);
    this.#all.take(charges);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.#all.give(charges);
      const h = this.#byIp.get(ip)!;
      h.give(charges);
      if (h.selectors.size === 0) this.#byIp.delete(ip);
    };
  }

  /** Registers the budget's gauges in `registry`. */
  registerMetrics(registry: Registry): void {
    const budget = this;
    new Gauge({
      name: 'herald_template_cost_bytes',
      help: 'Estimated memory of the distinct URI templates held by open subscriptions.',
      registers: [registry],
      collect() {
        this.set(budget.bytes);
      },
    });
    new Gauge({
      name: 'herald_selector_cache_bytes',
      help: 'Estimated memory of the compiled selectors and templates the process-wide cache keeps (bounded by bytes).',
      registers: [registry],
      collect() {
        this.set(selectorCacheStats().bytes);
      },
    });
    new Gauge({
      name: 'herald_template_refusals_total',
      help: 'Subscriptions refused with 429 by a template cost limit, by scope (ip = --max-template-cost-per-ip, total = --max-template-cost-total).',
      labelNames: ['scope'],
      registers: [registry],
      collect() {
        this.set({ scope: 'ip' }, budget.refused.ip);
        this.set({ scope: 'total' }, budget.refused.total);
      },
    });
  }
}

/** Each selector of `charges` once. */
function distinct(charges: readonly TemplateCharge[]): TemplateCharge[] {
  const seen = new Set<string>();
  const out: TemplateCharge[] = [];
  for (const c of charges) {
    if (seen.has(c.selector)) continue;
    seen.add(c.selector);
    out.push(c);
  }
  return out;
}
