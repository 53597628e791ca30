/**
 * RFC 6570 URI templates, used in reverse: not "expand a template with variables" but "could
 * this topic be an expansion of this template?". Herald uses this for topic selectors such as
 * `https://example.com/books/{id}`.
 *
 * How a template is matched:
 *
 * 1. {@link parseUriTemplate} parses it into literals and expressions (levels 1–4 syntax).
 * 2. Each expression becomes a small regular language of the strings it can expand to (see
 *    `expressionNode` for the exact rules), so the whole template is one regular language.
 * 3. That language is compiled to a Thompson NFA. Two matchers can run it, both linear in the
 *    topic's length:
 *    - when the NFA is *deterministic* — from every point, each character can continue along at
 *      most one path, as in `https://example.com/books/{id}` or `/users/{u}/notes/{n}`, where a
 *      variable's characters exclude the `/` that follows it — the equivalent anchored `RegExp`
 *      is used: a backtracking engine never has more than one viable branch to try, so it stays
 *      linear, and V8 runs it as native code (3–4× faster than the DFA below);
 *    - otherwise (`{+path}/comments`, `{a}{b}`, `{x,y}` …), a lazily built DFA over the
 *      template's own character classes. A backtracking `RegExp` would take polynomial (with
 *      nested quantifiers, exponential) time there on a long non-matching topic — and
 *      subscribers choose templates while the hub matches them on its hot path, so that would
 *      be a denial-of-service lever.
 *
 * {@link UriTemplate.matcher} tells which one a template uses.
 *
 * @packageDocumentation
 */

/** What went wrong with a topic selector, machine-readable. */
export type HeraldTopicErrorCode =
  /** The selector contains `{` or `}` but is not a well-formed RFC 6570 template. */
  | 'INVALID_TEMPLATE'
  /** The template is well-formed but would compile to an automaton over the size limit. */
  | 'TEMPLATE_TOO_COMPLEX';

/**
 * A topic selector that cannot be used as a URI template. `index` is the offset in `selector`
 * where the problem was found.
 */
export class HeraldTopicError extends Error {
  /** Machine-readable kind of error. */
  readonly code: HeraldTopicErrorCode;
  /** The offending selector. */
  readonly selector: string;
  /** Offset in `selector` (UTF-16 code units) where the problem was found. */
  readonly index: number;

  /**
   * @param code - what kind of error this is
   * @param message - a sentence a person can act on
   * @param selector - the offending selector
   * @param index - where in the selector the problem was found
   */
  constructor(code: HeraldTopicErrorCode, message: string, selector: string, index: number) {
    super(message);
    this.name = 'HeraldTopicError';
    this.code = code;
    this.selector = selector;
    this.index = index;
  }
}

/** An RFC 6570 expression operator; `''` is simple string expansion. */
export type TemplateOperator = '' | '+' | '#' | '.' | '/' | ';' | '?' | '&';

/** One `varspec` of an expression. */
export interface TemplateVariable {
  /** The variable name (may contain `.` and percent-encoded octets). */
  readonly name: string;
  /** `true` for the explode modifier `*`. */
  readonly explode: boolean;
  /** The prefix modifier `:n` (1–9999), if any. */
  readonly maxLength: number | undefined;
}

/** A parsed piece of a template: literal text or an `{…}` expression. */
export type TemplatePart =
  | { readonly kind: 'literal'; readonly text: string }
  | {
      readonly kind: 'expression';
      readonly operator: TemplateOperator;
      readonly variables: readonly TemplateVariable[];
    };

// ---------------------------------------------------------------------------------------------
// Parsing
// ---------------------------------------------------------------------------------------------

const OPERATORS = '+#./;?&';
// "op-reserve = "=" / "," / "!" / "@" / "|"" — "reserved for future extensions" (RFC 6570 §2.2).
const RESERVED_OPERATORS = '=,!@|';
// "varname = varchar *( ["."] varchar ); varchar = ALPHA / DIGIT / "_" / pct-encoded" (§2.3),
// "prefix = ":" max-length; max-length = %x31-39 0*3DIGIT ; positive integer < 10000",
// "explode = "*"" (§2.4). The classes are disjoint, so this pattern cannot backtrack badly.
const VARSPEC =
  /^((?:[A-Za-z0-9_]|%[0-9A-Fa-f]{2})+(?:\.(?:[A-Za-z0-9_]|%[0-9A-Fa-f]{2})+)*)(?::([1-9][0-9]{0,3})|(\*))?$/;

/**
 * Parses a URI template into literals and expressions.
 *
 * Expressions follow RFC 6570 §2.2–2.4 strictly (operators, variable names, `:n` and `*`
 * modifiers). Literals are lenient: any character except `{` and `}` is accepted and later
 * compared verbatim, because topics are often not strict URIs and a stray space or quote in a
 * literal does no harm.
 *
 * @param source - the template
 * @returns its parts, in order
 * @throws {@link HeraldTopicError} `INVALID_TEMPLATE` on unbalanced braces, an empty expression,
 *   a reserved operator (`=`, `,`, `!`, `@`, `|`) or a bad variable specification.
 */
export function parseUriTemplate(source: string): TemplatePart[] {
  const parts: TemplatePart[] = [];
  let literalStart = 0;
  let i = 0;
  while (i < source.length) {
    const c = source.charCodeAt(i);
    if (c === 0x7d /* } */) {
      throw invalid(source, i, `"}" at index ${i} closes no expression`);
    }
    if (c !== 0x7b /* { */) {
      i++;
      continue;
    }
    if (i > literalStart) parts.push({ kind: 'literal', text: source.slice(literalStart, i) });
    const close = source.indexOf('}', i + 1);
    if (close === -1) {
      throw invalid(source, i, `"{" at index ${i} starts an expression that is never closed`);
    }
    const nested = source.indexOf('{', i + 1);
    if (nested !== -1 && nested < close) {
      throw invalid(source, nested, `"{" at index ${nested} is inside another expression`);
    }
    parts.push(parseExpression(source, i + 1, close));
    i = close + 1;
    literalStart = i;
  }
  if (literalStart < source.length)
    parts.push({ kind: 'literal', text: source.slice(literalStart) });
  return parts;
}

function parseExpression(source: string, start: number, end: number): TemplatePart {
  if (start === end)
    throw invalid(source, start - 1, `empty expression "{}" at index ${start - 1}`);
  let operator: TemplateOperator = '';
  let pos = start;
  const first = source[start]!;
  if (OPERATORS.includes(first)) {
    operator = first as TemplateOperator;
    pos++;
  } else if (RESERVED_OPERATORS.includes(first)) {
    throw invalid(
      source,
      start,
      `operator "${first}" at index ${start} is reserved for future extensions (RFC 6570 §2.2); use one of + # . / ; ? &`,
    );
  }
  const variables: TemplateVariable[] = [];
  for (const spec of source.slice(pos, end).split(',')) {
    const m = VARSPEC.exec(spec);
    if (m === null) {
      throw invalid(
        source,
        pos,
        `invalid variable ${quote(spec)} at index ${pos}: a name is letters, digits, "_" and percent-encoded octets, with single dots between them, optionally followed by ":<1-9999>" or "*" (RFC 6570 §2.3–2.4)`,
      );
    }
    variables.push({
      name: m[1]!,
      explode: m[3] !== undefined,
      maxLength: m[2] === undefined ? undefined : Number(m[2]),
    });
    pos += spec.length + 1;
  }
  return { kind: 'expression', operator, variables };
}

/** The selector for an error message, shortened when long. */
function quote(source: string): string {
  return JSON.stringify(source.length > 120 ? `${source.slice(0, 120)}…` : source);
}

function tooComplex(source: string, cost: TemplateCost): HeraldTopicError {
  const what =
    cost.states > MAX_TEMPLATE_STATES
      ? `${cost.states} automaton states, at most ${MAX_TEMPLATE_STATES}`
      : `about ${Math.ceil(cost.bytes / 1024)} KiB compiled, at most ${MAX_TEMPLATE_BYTES / 1024} KiB`;
  return new HeraldTopicError(
    'TEMPLATE_TOO_COMPLEX',
    `${quote(source)} is too complex to match (${what}); use fewer expressions, smaller ":n" prefixes or fewer distinct characters`,
    source,
    0,
  );
}

function invalid(source: string, index: number, message: string): HeraldTopicError {
  return new HeraldTopicError(
    'INVALID_TEMPLATE',
    `${quote(source)} is not a valid URI template: ${message}`,
    source,
    index,
  );
}

// ---------------------------------------------------------------------------------------------
// The language of a template, as a tiny regular-expression tree
// ---------------------------------------------------------------------------------------------

/** A set of UTF-16 code units: an ASCII mask plus "every non-ASCII unit" or one exact unit. */
type CharSet =
  | { readonly kind: 'unit'; readonly code: number }
  | { readonly kind: 'class'; readonly ascii: Uint8Array; readonly nonAscii: boolean };

type Node =
  | { readonly t: 'set'; readonly set: CharSet }
  | { readonly t: 'seq'; readonly items: readonly Node[] }
  | { readonly t: 'alt'; readonly items: readonly Node[] }
  | { readonly t: 'opt'; readonly item: Node }
  | { readonly t: 'star'; readonly item: Node }
  | { readonly t: 'rep'; readonly item: Node; readonly min: number; readonly max: number };

const seq = (...items: Node[]): Node => ({ t: 'seq', items });
const alt = (...items: Node[]): Node => ({ t: 'alt', items });
const opt = (item: Node): Node => ({ t: 'opt', item });
const star = (item: Node): Node => ({ t: 'star', item });
const plus = (item: Node): Node => seq(item, star(item));
const lit = (text: string): Node =>
  seq(...Array.from({ length: text.length }, (_, i) => unit(text.charCodeAt(i))));
function unit(code: number): Node {
  return { t: 'set', set: { kind: 'unit', code } };
}
function charClass(chars: string, nonAscii: boolean): Node {
  const ascii = new Uint8Array(128);
  for (let i = 0; i < chars.length; i++) ascii[chars.charCodeAt(i)] = 1;
  return { t: 'set', set: { kind: 'class', ascii, nonAscii } };
}
/** `min` to `max` repetitions of `item`. */
function repeat(item: Node, min: number, max: number): Node {
  return { t: 'rep', item, min, max };
}

// "unreserved = ALPHA / DIGIT / "-" / "." / "_" / "~"" (RFC 6570 §1.5)
const UNRESERVED = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~';
// "reserved = gen-delims / sub-delims; gen-delims = ":" / "/" / "?" / "#" / "[" / "]" / "@";
//  sub-delims = "!" / "$" / "&" / "'" / "(" / ")" / "*" / "+" / "," / ";" / "="" (§1.5)
const RESERVED = ":/?#[]@!$&'()*+,;=";
const HEX = '0123456789ABCDEFabcdef';

/**
 * "The allowed set for a given expansion depends on the expression type: reserved ("+") and
 * fragment ("#") expansions allow the set of characters in the union of ( unreserved / reserved /
 * pct-encoded ) to be passed through without pct-encoding, whereas all other expression types
 * allow only unreserved characters to be passed through without pct-encoding." (§3.2.1)
 *
 * Everything else reaches the topic as a pct-encoded triplet. Herald also lets any non-ASCII
 * code unit through: topics are IRIs as often as URIs, and an IRI's non-ASCII character is the
 * same thing as the pct-encoded UTF-8 of a URI (RFC 3987 §3.1). ASCII outside the allowed set
 * (space, `"`, `<`, `%` without two hex digits, …) never matches a variable.
 */
function valueChar(allowReserved: boolean): Node {
  return allowReserved ? VALUE_CHAR_UR : VALUE_CHAR_U;
}
const HEX_DIGIT = charClass(HEX, false);
const CHARS_U = charClass(UNRESERVED, true);
const CHARS_UR = charClass(UNRESERVED + RESERVED, true);
const PCT_ENCODED = seq(unit(0x25 /* % */), HEX_DIGIT, HEX_DIGIT);
const VALUE_CHAR_U = alt(CHARS_U, PCT_ENCODED);
const VALUE_CHAR_UR = alt(CHARS_UR, PCT_ENCODED);

/**
 * One character of a prefix-limited value: "this numbering is in characters, not octets"
 * (§2.4.1), so a pct-encoded UTF-8 sequence (a triplet and its continuation-byte triplets `%80`–`%BF`)
 * counts as one. A raw non-ASCII character counts per UTF-16 code unit (an emoji counts 2).
 */
function prefixChar(allowReserved: boolean): Node {
  return allowReserved ? PREFIX_CHAR_UR : PREFIX_CHAR_U;
}
const PCT_CONTINUATION = seq(unit(0x25), charClass('89ABab', false), HEX_DIGIT);
const PCT_CHARACTER = seq(PCT_ENCODED, star(PCT_CONTINUATION));
const PREFIX_CHAR_U = alt(CHARS_U, PCT_CHARACTER);
const PREFIX_CHAR_UR = alt(CHARS_UR, PCT_CHARACTER);

interface OperatorBehaviour {
  readonly first: string;
  readonly sep: string;
  readonly named: boolean;
  readonly ifEmpty: string;
  readonly allowReserved: boolean;
}

// RFC 6570 Appendix A:
//            NUL   +    .    /    ;    ?    &    #
//   first    ""   ""   "."  "/"  ";"  "?"  "&"  "#"
//   sep      ","  ","  "."  "/"  ";"  "&"  "&"  ","
//   named    no   no   no   no   yes  yes  yes  no
//   ifemp    ""   ""   ""   ""   ""   "="  "="  ""
//   allow    U    U+R  U    U    U    U    U    U+R
const BEHAVIOUR: Record<TemplateOperator, OperatorBehaviour> = {
  '': { first: '', sep: ',', named: false, ifEmpty: '', allowReserved: false },
  '+': { first: '', sep: ',', named: false, ifEmpty: '', allowReserved: true },
  '.': { first: '.', sep: '.', named: false, ifEmpty: '', allowReserved: false },
  '/': { first: '/', sep: '/', named: false, ifEmpty: '', allowReserved: false },
  ';': { first: ';', sep: ';', named: true, ifEmpty: '', allowReserved: false },
  '?': { first: '?', sep: '&', named: true, ifEmpty: '=', allowReserved: false },
  '&': { first: '&', sep: '&', named: true, ifEmpty: '=', allowReserved: false },
  '#': { first: '#', sep: ',', named: false, ifEmpty: '', allowReserved: true },
};

/**
 * The strings one expression can expand to, given that each variable may be undefined, a string,
 * a list or an associative array (RFC 6570 §2.3, §3.2):
 *
 * - Undefined variables are skipped; "If all of the variables in an expression are undefined,
 *   then the expression's expansion is the empty string" (§3.2.1). Otherwise `first` precedes
 *   the first defined one and `sep` joins them, in template order.
 * - A non-exploded value is a string, or a list / associative array whose members are joined
 *   with commas (§3.2.1), so its characters are the operator's allowed set plus `,`. With a
 *   prefix `:n` it is a string of at most n characters ("Prefix modifiers are not applicable to
 *   variables that have composite values", §2.4.1).
 * - An exploded value is one or more elements joined by `sep`: list members, or `key=value`
 *   pairs of an associative array; for named operators list members are `name=value` too.
 * - Named operators (`;`, `?`, `&`) write `name=value`; an empty value writes `name` for `;`
 *   and `name=` for `?` and `&` ("ifemp").
 *
 * Herald's one deliberate deviation: simple (`{var}`) and reserved (`{+var}`) expressions must
 * expand to at least one character — each value and list member is non-empty and at least one
 * variable is defined — so `/books/{id}` does not match the collection `/books/`. Operators with
 * a prefix character keep RFC semantics: `/search{?q}` matches `/search`, `/search?q=` and
 * `/search?q=x`; `/books{/id}` matches `/books`, `/books/` and `/books/1`.
 *
 * Also by design: a variable repeated in a template is not required to have the same value at
 * each place (§3.2.1 says it must), so `/{x}/{x}` matches `/a/b` — a regular language cannot
 * express that constraint. Apart from that and from raw non-ASCII characters (see `valueChar`),
 * a topic matches only if it is an RFC 6570 expansion of the template.
 */
function expressionNode(operator: TemplateOperator, variables: readonly TemplateVariable[]): Node {
  const b = BEHAVIOUR[operator];
  const nonEmpty = operator === '' || operator === '+';
  const ch = valueChar(b.allowReserved);
  const chOrComma = b.allowReserved ? ch : alt(ch, unit(0x2c /* , */));
  const items = variables.map((v): Node => {
    if (v.explode) {
      let element: Node;
      if (b.named) {
        // `name=value` (list) or `key=value` (associative array); `;` drops an empty `=`.
        element =
          b.ifEmpty === '='
            ? seq(plus(ch), unit(0x3d), star(ch))
            : seq(plus(ch), opt(seq(unit(0x3d), plus(ch))));
      } else {
        // A list member, or `key=value` of an associative array: `(key=)?value`, written as
        // `key(=value)?` so that the language stays deterministic (see UriTemplate.matcher).
        element = nonEmpty
          ? seq(plus(ch), opt(seq(unit(0x3d), plus(ch))))
          : opt(seq(plus(ch), opt(seq(unit(0x3d), star(ch)))));
      }
      return seq(element, star(seq(lit(b.sep), element)));
    }
    let value: Node;
    if (v.maxLength !== undefined) {
      value = repeat(prefixChar(b.allowReserved), nonEmpty ? 1 : 0, v.maxLength);
    } else {
      value = nonEmpty ? plus(chOrComma) : star(chOrComma);
    }
    if (!b.named) return value;
    if (b.ifEmpty === '=') return seq(lit(`${v.name}=`), value);
    // `;name` when empty, `;name=value` otherwise
    const nonEmptyValue =
      v.maxLength !== undefined ? repeat(prefixChar(false), 1, v.maxLength) : plus(chOrComma);
    return seq(lit(v.name), opt(seq(unit(0x3d), nonEmptyValue)));
  });
  // A non-empty, order-preserving subset of the variables, joined by `sep`. When the variables
  // are interchangeable (unnamed, no modifier) that is simply 1 to n values joined by `sep`.
  if (!b.named && variables.every((v) => !v.explode && v.maxLength === undefined)) {
    const item = items[0]!;
    const body = seq(lit(b.first), item, repeat(seq(lit(b.sep), item), 0, items.length - 1));
    return nonEmpty ? body : opt(body);
  }
  const choices: Node[] = [];
  for (let k = 0; k < items.length; k++) {
    const rest = items.slice(k + 1).map((item) => opt(seq(lit(b.sep), item)));
    choices.push(seq(items[k]!, ...rest));
  }
  const body = seq(lit(b.first), alt(...choices));
  return nonEmpty ? body : opt(body);
}

function templateNode(parts: readonly TemplatePart[]): Node {
  return seq(
    ...parts.map((p) =>
      p.kind === 'literal' ? lit(p.text) : expressionNode(p.operator, p.variables),
    ),
  );
}

/**
 * The NFA states {@link NfaBuilder.build} makes for `node`, counted without building them: one
 * per character set, one SPLIT per choice, per `?` and per `*`; a repetition `item{min,max}` is
 * `min` copies of the item and `max - min` optional ones.
 */
function stateCount(node: Node): number {
  switch (node.t) {
    case 'set':
      return 1;
    case 'seq': {
      let n = 0;
      for (const item of node.items) n += stateCount(item);
      return n;
    }
    case 'alt': {
      let n = node.items.length - 1;
      for (const item of node.items) n += stateCount(item);
      return n;
    }
    case 'opt':
    case 'star':
      return stateCount(node.item) + 1;
    case 'rep': {
      const item = stateCount(node.item);
      return node.min * item + (node.max - node.min) * (item + 1);
    }
  }
}

// States of the shared pieces of `expressionNode`, as stateCount counts them.
const VALUE_CHAR_STATES = stateCount(VALUE_CHAR_U);
const PREFIX_CHAR_STATES = stateCount(PREFIX_CHAR_U);
const plusStates = (item: number): number => 2 * item + 1;
const repeatStates = (item: number, min: number, max: number): number =>
  min * item + (max - min) * (item + 1);

/**
 * `stateCount(expressionNode(operator, variables))`, computed from the variables alone in time
 * linear in their number — the tree of an expression of n named variables has O(n²) nodes, too
 * many to build just to price a template. Each case mirrors `expressionNode` line for line.
 */
function expressionStates(
  operator: TemplateOperator,
  variables: readonly TemplateVariable[],
): number {
  const b = BEHAVIOUR[operator];
  const nonEmpty = operator === '' || operator === '+';
  const ch = VALUE_CHAR_STATES;
  const chOrComma = b.allowReserved ? ch : ch + 2;
  const items = variables.map((v): number => {
    if (v.explode) {
      let element: number;
      if (b.named) {
        element =
          b.ifEmpty === '='
            ? plusStates(ch) + 1 + (ch + 1)
            : plusStates(ch) + (1 + plusStates(ch) + 1);
      } else {
        element = nonEmpty
          ? plusStates(ch) + (1 + plusStates(ch) + 1)
          : plusStates(ch) + (1 + (ch + 1) + 1) + 1;
      }
      return element + (b.sep.length + element + 1);
    }
    const value =
      v.maxLength !== undefined
        ? repeatStates(PREFIX_CHAR_STATES, nonEmpty ? 1 : 0, v.maxLength)
        : nonEmpty
          ? plusStates(chOrComma)
          : chOrComma + 1;
    if (!b.named) return value;
    if (b.ifEmpty === '=') return v.name.length + 1 + value;
    const nonEmptyValue =
      v.maxLength !== undefined
        ? repeatStates(PREFIX_CHAR_STATES, 1, v.maxLength)
        : plusStates(chOrComma);
    return v.name.length + (1 + nonEmptyValue + 1);
  });
  let body: number;
  if (!b.named && variables.every((v) => !v.explode && v.maxLength === undefined)) {
    const item = items[0]!;
    body = b.first.length + item + (items.length - 1) * (b.sep.length + item + 1);
  } else {
    // choice k = items[k] followed by an optional `sep item` for every later item
    let choices = items.length - 1;
    let rest = 0;
    for (let k = items.length - 1; k >= 0; k--) {
      choices += items[k]! + rest;
      rest += b.sep.length + items[k]! + 1;
    }
    body = b.first.length + choices;
  }
  return nonEmpty ? body : body + 1;
}

/** `stateCount(templateNode(parts)) + 1` (the MATCH state), without building the tree. */
function templateStates(parts: readonly TemplatePart[]): number {
  let n = 1;
  for (const p of parts) {
    n += p.kind === 'literal' ? p.text.length : expressionStates(p.operator, p.variables);
  }
  return n;
}

// ---------------------------------------------------------------------------------------------
// Cost
// ---------------------------------------------------------------------------------------------

/**
 * Templates whose NFA would exceed this many states are refused (`TEMPLATE_TOO_COMPLEX`), before
 * anything is built. A `:n` prefix costs 10 states per character, so this allows prefixes up to
 * ~1600 characters in all (RFC 6570 allows 9999; real templates use a handful). A server sets
 * its own, lower bound in bytes (see {@link templateCost}).
 */
export const MAX_TEMPLATE_STATES = 16_384;
/**
 * Most variables in one expression: an expression's language grows with the square of its
 * variable count (any ordered subset may be defined).
 */
export const MAX_TEMPLATE_VARIABLES = 32;
/** Bytes of a compiled template that do not depend on its size (objects, `RegExp`, tables). */
const TEMPLATE_BASE_BYTES = 4096;
/** Bytes per NFA state: its kind and two edges (1 + 4 + 4), rounded up. */
const BYTES_PER_STATE = 12;
/**
 * The lazily built DFA of a template may hold {@link DFA_BASE_BYTES}, plus
 * {@link DFA_BYTES_PER_STATE} per NFA state (room for two DFA states holding every NFA state,
 * with their keys, which a reset must always be able to hold), plus 16 rows of transitions.
 */
const DFA_BASE_BYTES = 4096;
const DFA_BYTES_PER_STATE = 48;
const DFA_ROWS = 16;
/** What one DFA state costs besides its NFA states and its row: array, map entry, flags. */
const DFA_STATE_OVERHEAD = 160;
/**
 * Templates whose compiled form could take more than this are refused (`TEMPLATE_TOO_COMPLEX`),
 * whatever their states: a literal with many distinct non-ASCII characters makes a wide
 * alphabet, and the alphabet's tables grow with its square.
 */
export const MAX_TEMPLATE_BYTES = 2 * 1024 * 1024;

/** What a URI template costs, estimated from its parse, before anything is built. */
export interface TemplateCost {
  /** States of its automaton. */
  readonly states: number;
  /**
   * The most memory its compiled form may hold, in bytes: the automaton, its alphabet tables and
   * the lazily built DFA at its bound. Also a measure of the CPU it takes to compile (linear in
   * the states) and, in the worst case, to match one topic.
   */
  readonly bytes: number;
}

/** {@link TemplateCost} with the alphabet size it was derived from. */
interface Estimate extends TemplateCost {
  /** Most character classes of its alphabet. */
  readonly classes: number;
}

/** The byte bound of a template's DFA cache, from its NFA and alphabet sizes. */
function dfaBudget(states: number, classes: number): number {
  return DFA_BASE_BYTES + DFA_BYTES_PER_STATE * states + 4 * DFA_ROWS * classes;
}

/**
 * The cost of a parsed template: its states counted on the language tree, and its alphabet
 * bounded by the distinct code units that can become character sets of their own (the literal
 * text, the operators' punctuation, the names of named variables) plus the shared classes.
 */
function estimate(parts: readonly TemplatePart[]): Estimate {
  const states = templateStates(parts);
  const units = new Set<number>();
  const add = (text: string): void => {
    for (let i = 0; i < text.length; i++) units.add(text.charCodeAt(i));
  };
  add('%,=');
  for (const part of parts) {
    if (part.kind === 'literal') {
      add(part.text);
      continue;
    }
    const b = BEHAVIOUR[part.operator];
    add(b.first + b.sep);
    if (b.named) for (const v of part.variables) add(v.name);
  }
  // Each unit set, plus the shared classes (unreserved, reserved, hex digits, continuation
  // bytes); classes: one per unit, the regions of the shared classes, and "other non-ASCII".
  const sets = units.size + 4;
  const classes = units.size + 8;
  const bytes =
    TEMPLATE_BASE_BYTES +
    BYTES_PER_STATE * states +
    sets * classes +
    2 * classes +
    dfaBudget(states, classes);
  return { states, bytes, classes };
}

function checkVariables(source: string, parts: readonly TemplatePart[]): void {
  for (const part of parts) {
    if (part.kind === 'expression' && part.variables.length > MAX_TEMPLATE_VARIABLES) {
      throw new HeraldTopicError(
        'TEMPLATE_TOO_COMPLEX',
        `${quote(source)} has an expression with ${part.variables.length} variables; at most ${MAX_TEMPLATE_VARIABLES} are supported`,
        source,
        0,
      );
    }
  }
}

/**
 * What compiling `source` would cost, computed from its parse alone: nothing is built, and the
 * time taken is linear in the template's length. A server checks this against its budgets
 * before it compiles a subscriber's templates. {@link UriTemplate} refuses templates of more
 * than {@link MAX_TEMPLATE_STATES} states; the cost of those is returned all the same.
 *
 * @param source - an RFC 6570 template
 * @throws {@link HeraldTopicError} `INVALID_TEMPLATE` when it is malformed,
 *   `TEMPLATE_TOO_COMPLEX` when an expression has more than {@link MAX_TEMPLATE_VARIABLES}
 *   variables (its cost is not even estimated)
 */
export function templateCost(source: string): TemplateCost;
/**
 * What compiling an already parsed template would cost.
 *
 * @param parts - the template, parsed
 * @param source - its text, for the error message
 */
export function templateCost(parts: readonly TemplatePart[], source: string): TemplateCost;
export function templateCost(
  template: string | readonly TemplatePart[],
  text?: string,
): TemplateCost {
  const source = typeof template === 'string' ? template : (text ?? '');
  const parts = typeof template === 'string' ? parseUriTemplate(template) : template;
  checkVariables(source, parts);
  const { states, bytes } = estimate(parts);
  return { states, bytes };
}

/**
 * A key that two templates share when they match the same topics for the same reason: the
 * template with the names of its unnamed variables erased (`{+a:5}` and `{+b:5}` both give
 * `{+:5}`), since only `;`, `?` and `&` write names into a topic. Used to compile and match
 * such templates once.
 *
 * @param parts - a parsed template
 */
export function templateLanguageKey(parts: readonly TemplatePart[]): string {
  let key = '';
  for (const part of parts) {
    if (part.kind === 'literal') {
      key += part.text;
      continue;
    }
    const named = BEHAVIOUR[part.operator].named;
    key += `{${part.operator}`;
    for (let i = 0; i < part.variables.length; i++) {
      const v = part.variables[i]!;
      if (i > 0) key += ',';
      if (named) key += v.name;
      if (v.explode) key += '*';
      else if (v.maxLength !== undefined) key += `:${v.maxLength}`;
    }
    key += '}';
  }
  return key;
}

// ---------------------------------------------------------------------------------------------
// Automaton
// ---------------------------------------------------------------------------------------------

const MATCH = 0;
const SPLIT = 1;
const STEP = 2;
/** The lazily built DFA is thrown away and rebuilt when it reaches this many states. */
const MAX_DFA_STATES = 256;
const DEAD = 0;
const UNKNOWN = -1;

/**
 * Builds a template's NFA into arrays of the size its estimate counted: one allocation each, no
 * growing and copying (compiling is what a subscriber makes the hub do, so it should leave as
 * little garbage as it can).
 */
class NfaBuilder {
  readonly kind: Uint8Array;
  readonly a: Int32Array;
  readonly b: Int32Array;
  /** States added so far. */
  length = 0;
  readonly sets: CharSet[] = [];
  readonly #setIds = new Map<CharSet | number, number>();

  /**
   * @param source - the template, for messages
   * @param states - the states it will have (its estimate)
   */
  constructor(
    readonly source: string,
    states: number,
  ) {
    // One allocation for the three arrays: the edges first (4-byte aligned), then the kinds.
    const buffer = new ArrayBuffer(9 * states);
    this.a = new Int32Array(buffer, 0, states);
    this.b = new Int32Array(buffer, 4 * states, states);
    this.kind = new Uint8Array(buffer, 8 * states, states);
  }

  add(kind: number, a: number, b: number): number {
    const s = this.length;
    if (s >= this.kind.length) {
      // The estimate counted the states before building: reaching this is a bug.
      throw new Error(`URI template ${quote(this.source)}: more states than estimated`);
    }
    this.kind[s] = kind;
    this.a[s] = a;
    this.b[s] = b;
    this.length = s + 1;
    return s;
  }

  setId(set: CharSet): number {
    // Classes are shared module constants (identity is enough); units are keyed by code.
    const key = set.kind === 'unit' ? set.code : set;
    let id = this.#setIds.get(key);
    if (id === undefined) {
      id = this.sets.length;
      this.sets.push(set);
      this.#setIds.set(key, id);
    }
    return id;
  }

  /** Builds `node` so that it continues into state `next`; returns its entry state. */
  build(node: Node, next: number): number {
    switch (node.t) {
      case 'set':
        return this.add(STEP, this.setId(node.set), next);
      case 'seq': {
        let s = next;
        for (let i = node.items.length - 1; i >= 0; i--) s = this.build(node.items[i]!, s);
        return s;
      }
      case 'alt': {
        let s = this.build(node.items[node.items.length - 1]!, next);
        for (let i = node.items.length - 2; i >= 0; i--) {
          s = this.add(SPLIT, this.build(node.items[i]!, next), s);
        }
        return s;
      }
      case 'opt':
        return this.add(SPLIT, this.build(node.item, next), next);
      case 'star': {
        const split = this.add(SPLIT, UNKNOWN, next);
        this.a[split] = this.build(node.item, split);
        return split;
      }
      case 'rep': {
        // item{min} (item (item …)?)?, built back to front without deep recursion.
        let s = next;
        for (let i = node.max - node.min; i > 0; i--) {
          s = this.add(SPLIT, this.build(node.item, s), next);
        }
        for (let i = node.min; i > 0; i--) s = this.build(node.item, s);
        return s;
      }
    }
  }
}

function setHas(set: CharSet, code: number, isOtherNonAscii: boolean): boolean {
  if (set.kind === 'unit') return !isOtherNonAscii && set.code === code;
  if (code < 128 && !isOtherNonAscii) return set.ascii[code] === 1;
  return set.nonAscii;
}

/** Options of {@link UriTemplate}. */
export interface UriTemplateOptions {
  /**
   * `auto` (default) uses a native `RegExp` when the template is deterministic and the DFA
   * otherwise; `dfa` always uses the DFA (for tests and benchmarks).
   */
  matcher?: 'auto' | 'dfa';
}

/**
 * Marks of the states an epsilon closure has reached, shared by every automaton: a closure runs
 * to completion without yielding, so one array serves them all, and compiling a template
 * allocates none. A state is marked when its entry equals the current generation.
 */
let scratch = new Int32Array(1024);
let generation = 0;

/** Starts a closure over `states` states: a fresh generation, the scratch array big enough. */
function nextGeneration(states: number): number {
  if (scratch.length < states) {
    scratch = new Int32Array(Math.max(states, scratch.length * 2));
    generation = 0;
  }
  if (generation === 0x7fffffff) {
    scratch.fill(0);
    generation = 0;
  }
  return ++generation;
}

/**
 * A template's NFA, its alphabet and the DFA built from it lazily, one state at a time, as topics
 * need them. The DFA is bounded in bytes ({@link dfaBudget}): when it outgrows the bound it is
 * thrown away and rebuilt from scratch (as RE2 does), so memory stays bounded whatever the
 * topics, at the cost of time on adversarial templates.
 */
class Automaton {
  // NFA
  readonly #kind: Uint8Array;
  readonly #a: Int32Array;
  readonly #b: Int32Array;
  readonly #start: number;
  // alphabet: UTF-16 code unit → class id
  readonly #asciiClass: Uint16Array;
  readonly #unitClass: Map<number, number> | null;
  readonly #otherClass: number;
  readonly #classCount: number;
  /** `#accepts[setId * classCount + class]` is 1 when the set contains the class. */
  readonly #accepts: Uint8Array;
  // DFA (lazy)
  readonly #budget: number;
  #dfaBytes = 0;
  #dfaSets: Int32Array[] = [];
  #dfaAccept: number[] = [];
  #dfaIds = new Map<string, number>();
  #trans = new Int32Array(0);
  #dfaStart = DEAD;
  /** DFA state after the template's literal prefix, computed on first use. */
  #prefixState = UNKNOWN;

  constructor(nfa: NfaBuilder, start: number, budget: number) {
    this.#start = start;
    this.#kind = nfa.kind;
    this.#a = nfa.a;
    this.#b = nfa.b;
    this.#budget = budget;

    // Alphabet reduction: code units contained in exactly the same sets behave identically. A
    // unit set contains one code unit, so every unit of the template's literal text is a class
    // of its own; the other code units are told apart by the few shared classes (unreserved,
    // reserved, hex digits…) alone. Linear in the number of sets.
    const sets = nfa.sets;
    const classSets: CharSet[] = [];
    const units = new Set<number>();
    for (const s of sets) {
      if (s.kind === 'unit') units.add(s.code);
      else classSets.push(s);
    }
    // A class's signature as a number: a unit's own code (above every mask), else the mask of
    // the shared classes containing the code (negated for "other non-ASCII").
    const classOf = new Map<number, number>();
    const representatives: number[] = [];
    const classify = (code: number, other: boolean): number => {
      let sig: number;
      if (!other && units.has(code)) {
        sig = 0x10000 + code;
      } else {
        let mask = 0;
        for (let i = 0; i < classSets.length; i++) {
          if (setHas(classSets[i]!, code, other)) mask |= 1 << i;
        }
        sig = other ? -1 - mask : mask;
      }
      let id = classOf.get(sig);
      if (id === undefined) {
        id = representatives.length;
        classOf.set(sig, id);
        representatives.push(other ? -1 : code);
      }
      return id;
    };
    this.#asciiClass = new Uint16Array(128);
    for (let c = 0; c < 128; c++) this.#asciiClass[c] = classify(c, false);
    this.#otherClass = classify(0x80, true);
    let unitClass: Map<number, number> | null = null;
    for (const code of units) {
      if (code >= 128) {
        unitClass ??= new Map();
        unitClass.set(code, classify(code, false));
      }
    }
    this.#unitClass = unitClass;
    const nc = representatives.length;
    this.#classCount = nc;
    this.#accepts = new Uint8Array(sets.length * nc);
    for (let s = 0; s < sets.length; s++) {
      for (let cls = 0; cls < nc; cls++) {
        const code = representatives[cls]!;
        this.#accepts[s * nc + cls] = setHas(sets[s]!, code, code === -1) ? 1 : 0;
      }
    }
  }

  /**
   * Whether, from the start and after every character step, the epsilon-closure reaches each
   * STEP state along one path only and no two of its STEP states accept a common character. Then
   * a backtracking engine running the same expression has at most one viable branch at every
   * choice point (the others fail on the next character), so it runs in O(topic × template).
   */
  isDeterministic(): boolean {
    const kind = this.#kind;
    const perClass = new Int32Array(this.#classCount);
    // One stack and one list, reused for every root: no garbage per state.
    const stack: number[] = [];
    const reached: number[] = [];
    for (let r = -1; r < kind.length; r++) {
      // The roots: the start, and the state after each character step.
      if (r >= 0 && kind[r] !== STEP) continue;
      const root = r < 0 ? this.#start : this.#b[r]!;
      const gen = nextGeneration(kind.length);
      const seen = scratch;
      reached.length = 0;
      stack.length = 0;
      stack.push(root);
      while (stack.length > 0) {
        const s = stack.pop()!;
        if (seen[s] === gen) return false; // two epsilon paths (or a loop) to one state
        seen[s] = gen;
        if (kind[s] === SPLIT) stack.push(this.#b[s]!, this.#a[s]!);
        else if (kind[s] === STEP) reached.push(s);
      }
      perClass.fill(0);
      for (let i = 0; i < reached.length; i++) {
        const row = this.#a[reached[i]!]! * this.#classCount;
        for (let cls = 0; cls < this.#classCount; cls++) {
          if (this.#accepts[row + cls] === 1 && ++perClass[cls]! > 1) return false;
        }
      }
    }
    return true;
  }

  /** Starts the lazy DFA (the deterministic templates never need it). */
  startDfa(): void {
    this.#resetDfa();
  }

  /**
   * Whether `value`, which starts with `prefix` (the template's leading literal text), is in
   * the language. Allocation-free once the DFA is warm.
   */
  matches(value: string, prefix: string): boolean {
    let d = this.#prefixState;
    if (d === UNKNOWN) {
      d = this.#run(this.#dfaStart, prefix, 0);
      this.#prefixState = d;
    }
    if (d === DEAD) return false;
    d = this.#run(d, value, prefix.length);
    return this.#dfaAccept[d] === 1;
  }

  /** Runs the DFA from state `d` over `value` from index `from`; returns the final state. */
  #run(d: number, value: string, from: number): number {
    const nc = this.#classCount;
    const ascii = this.#asciiClass;
    const units = this.#unitClass;
    const other = this.#otherClass;
    let trans = this.#trans;
    for (let i = from; i < value.length; i++) {
      const c = value.charCodeAt(i);
      const cls = c < 128 ? ascii[c]! : units === null ? other : (units.get(c) ?? other);
      let n = trans[d * nc + cls]!;
      if (n === UNKNOWN) {
        // (When the step resets the DFA to make room, `n` names a state of the new one.)
        n = this.#step(d, cls);
        trans = this.#trans;
      }
      if (n === DEAD) return DEAD;
      d = n;
    }
    return d;
  }

  #resetDfa(): void {
    this.#dfaSets = [];
    this.#dfaAccept = [];
    this.#dfaIds = new Map();
    this.#dfaBytes = 0;
    this.#trans = new Int32Array(16 * this.#classCount).fill(UNKNOWN);
    this.#prefixState = UNKNOWN;
    this.#intern([]); // DEAD
    this.#dfaStart = this.#intern(this.#closure([this.#start]));
  }

  #step(d: number, cls: number): number {
    const from = this.#dfaSets[d]!;
    const targets: number[] = [];
    for (let i = 0; i < from.length; i++) {
      const s = from[i]!;
      if (this.#kind[s] === STEP && this.#accepts[this.#a[s]! * this.#classCount + cls] === 1) {
        targets.push(this.#b[s]!);
      }
    }
    const closure = this.#closure(targets);
    if (
      (this.#dfaSets.length >= MAX_DFA_STATES ||
        this.#dfaBytes + this.#trans.byteLength > this.#budget) &&
      !this.#dfaIds.has(closure.join(','))
    ) {
      // Bound memory on adversarial templates: forget the DFA and keep going (as RE2 does).
      this.#resetDfa();
      return this.#intern(closure);
    }
    const n = this.#intern(closure);
    this.#trans[d * this.#classCount + cls] = n;
    return n;
  }

  /** The STEP and MATCH states reachable from `states` through SPLITs, sorted. */
  #closure(states: number[]): number[] {
    const gen = nextGeneration(this.#kind.length);
    const seen = scratch;
    const out: number[] = [];
    const stack = states.slice();
    while (stack.length > 0) {
      const s = stack.pop()!;
      if (seen[s] === gen) continue;
      seen[s] = gen;
      if (this.#kind[s] === SPLIT) {
        stack.push(this.#b[s]!, this.#a[s]!);
      } else {
        out.push(s);
      }
    }
    return out.sort((x, y) => x - y);
  }

  #intern(states: number[]): number {
    const key = states.join(',');
    const known = this.#dfaIds.get(key);
    if (known !== undefined) return known;
    const id = this.#dfaSets.length;
    this.#dfaSets.push(Int32Array.from(states));
    this.#dfaAccept.push(states.some((s) => this.#kind[s] === MATCH) ? 1 : 0);
    this.#dfaIds.set(key, id);
    this.#dfaBytes += DFA_STATE_OVERHEAD + 4 * states.length + 2 * key.length;
    const needed = (id + 1) * this.#classCount;
    if (needed > this.#trans.length) {
      const grown = new Int32Array(Math.max(needed, this.#trans.length * 2)).fill(UNKNOWN);
      grown.set(this.#trans);
      this.#trans = grown;
    }
    if (states.length === 0) {
      // The dead state loops on itself.
      this.#trans.fill(DEAD, id * this.#classCount, (id + 1) * this.#classCount);
    }
    return id;
  }
}

/**
 * A compiled URI template. {@link UriTemplate.matches} tells whether a string is one of its
 * expansions, in time linear in the string's length.
 */
export class UriTemplate {
  /** The template text. */
  readonly source: string;
  /** The parsed template. */
  readonly parts: readonly TemplatePart[];
  /** Which matcher runs this template (see the module documentation); both are linear-time. */
  readonly matcher: 'regexp' | 'dfa';
  /** What it costs, as {@link templateCost} estimated it before it was built. */
  readonly cost: TemplateCost;
  /**
   * The template's leading literal text (`''` when it starts with `{…}`): every topic it matches
   * starts with it.
   */
  readonly prefix: string;
  /** The template's trailing literal text (`''` when it ends with `{…}`). */
  readonly suffix: string;
  /** Its {@link templateLanguageKey}: equal for templates that match the same topics. */
  readonly languageKey: string;
  readonly #regex: RegExp | null;
  /** The NFA and lazy DFA; `null` when the `RegExp` runs the template. */
  readonly #automaton: Automaton | null;

  /**
   * @param source - an RFC 6570 template
   * @throws {@link HeraldTopicError} when the template is malformed, or too complex: over
   *   {@link MAX_TEMPLATE_STATES} automaton states, {@link MAX_TEMPLATE_BYTES} of estimated
   *   memory or {@link MAX_TEMPLATE_VARIABLES} variables in one expression — checked before
   *   anything is built
   */
  constructor(source: string, options?: UriTemplateOptions) {
    this.source = source;
    this.parts = parseUriTemplate(source);
    const first = this.parts[0];
    const last = this.parts[this.parts.length - 1];
    this.prefix = first?.kind === 'literal' ? first.text : '';
    this.suffix = last?.kind === 'literal' ? last.text : '';
    checkVariables(source, this.parts);
    this.languageKey = templateLanguageKey(this.parts);
    const cost = estimate(this.parts);
    this.cost = { states: cost.states, bytes: cost.bytes };
    if (cost.states > MAX_TEMPLATE_STATES || cost.bytes > MAX_TEMPLATE_BYTES) {
      throw tooComplex(source, cost);
    }
    const node = templateNode(this.parts);
    // +1: the builder checks before adding, so it must allow exactly the estimated count.
    const nfa = new NfaBuilder(source, cost.states);
    const accept = nfa.add(MATCH, 0, 0);
    const start = nfa.build(node, accept);
    if (nfa.length !== cost.states) {
      throw new Error(
        `URI template ${quote(source)}: ${nfa.length} states, estimated ${cost.states}`,
      );
    }
    const automaton = new Automaton(nfa, start, dfaBudget(cost.states, cost.classes));
    const deterministic = options?.matcher !== 'dfa' && automaton.isDeterministic();
    this.#regex = deterministic ? new RegExp(`^${regexSource(node)}$`) : null;
    this.matcher = deterministic ? 'regexp' : 'dfa';
    this.#automaton = deterministic ? null : automaton;
    this.#automaton?.startDfa();
  }

  /**
   * Whether `value` is a possible expansion of this template (see the module documentation for
   * the exact rules). Linear in `value.length`; allocation-free once the DFA is warm.
   */
  matches(value: string): boolean {
    if (this.#regex !== null) return this.#regex.test(value);
    // Literal ends are checked natively first: most templates start with a long literal
    // (`https://example.com/books/`), and most topics are rejected right there.
    if (!value.startsWith(this.prefix) || !value.endsWith(this.suffix)) return false;
    return this.#automaton!.matches(value, this.prefix);
  }

  /**
   * An anchored `RegExp` that accepts exactly the strings {@link UriTemplate.matches} accepts.
   * Unless {@link UriTemplate.matcher} is `regexp`, a backtracking engine may take super-linear
   * time on it: use it for debugging only.
   */
  toRegExp(): RegExp {
    return this.#regex ?? new RegExp(`^${regexSource(templateNode(this.parts))}$`);
  }
}

function regexSource(node: Node): string {
  switch (node.t) {
    case 'set': {
      const s = node.set;
      if (s.kind === 'unit') return escapeUnit(s.code);
      let body = '';
      for (let c = 0; c < 128; c++) {
        if (s.ascii[c] !== 1) continue;
        let end = c;
        while (end + 1 < 128 && s.ascii[end + 1] === 1) end++;
        if (end - c >= 2) {
          body += `${escapeUnit(c)}-${escapeUnit(end)}`;
          c = end;
        } else {
          body += escapeUnit(c);
        }
      }
      if (s.nonAscii) body += '\\u0080-\\uffff';
      return `[${body}]`;
    }
    case 'seq':
      return node.items.map(regexSource).join('');
    case 'alt':
      return `(?:${node.items.map(regexSource).join('|')})`;
    case 'opt':
      return `(?:${regexSource(node.item)})?`;
    case 'star':
      return `(?:${regexSource(node.item)})*`;
    case 'rep':
      return `(?:${regexSource(node.item)}){${node.min},${node.max}}`;
  }
}

/** A code unit as a RegExp atom that means itself inside and outside a class (no `u` flag). */
function escapeUnit(code: number): string {
  if (
    (code >= 0x30 && code <= 0x39) ||
    (code >= 0x41 && code <= 0x5a) ||
    (code >= 0x61 && code <= 0x7a) ||
    code === 0x5f
  ) {
    return String.fromCharCode(code);
  }
  return code < 0x100
    ? `\\x${code.toString(16).padStart(2, '0')}`
    : `\\u${code.toString(16).padStart(4, '0')}`;
}
