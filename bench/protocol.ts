/**
 * Protocol micro-benchmark: parse throughput of herald's `createParser` against
 * eventsource-parser on the same corpora and chunkings, and encode throughput of `encodeEvent` /
 * `encodeEventBytes` against a naive template literal. Also the hub's topic matching: lookups
 * per second of `TopicIndex.forEachMatch` (the fan-out's first step) with exact topics and with
 * URI templates as subscribers and attackers use them.
 *
 * Run with `npm run bench:protocol` (`node --import tsx bench/protocol.ts`). tsx only transpiles
 * herald's TypeScript once at load time (esbuild, no down-levelling), so the JIT runs the same
 * code as the built `dist/`; eventsource-parser runs from its published `dist/`.
 *
 * Each measurement: warm-up rounds, then measured rounds; the median is reported.
 */
import { createParser as createEsParser } from 'eventsource-parser';
import { TopicIndex } from '../src/hub/topics.js';
import { encodeEvent, encodeEventBytes } from '../src/protocol/encode.js';
import { createParser } from '../src/protocol/parse.js';
import type { EventFields } from '../src/protocol/types.js';

const WARMUP_ROUNDS = 3;
const MEASURED_ROUNDS = 9;
const CHUNK_SIZE = 16 * 1024;
const TARGET_CORPUS_BYTES = 10 * 1024 * 1024;

const encoder = new TextEncoder();

// ---------------------------------------------------------------------------------------------
// Corpora
// ---------------------------------------------------------------------------------------------

interface Corpus {
  name: string;
  bytes: Uint8Array;
  /** Events a spec-conforming parser dispatches. */
  events: number;
}

/** A small deterministic PRNG, so every run parses the same corpora. */
function prng(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function buildCorpus(name: string, nextEvent: (index: number) => string): Corpus {
  const parts: string[] = [];
  let size = 0;
  let events = 0;
  while (size < TARGET_CORPUS_BYTES) {
    const event = nextEvent(events);
    parts.push(event);
    size += event.length;
    events++;
  }
  return { name, bytes: encoder.encode(parts.join('')), events };
}

function corpora(): Corpus[] {
  const random = prng(42);
  const symbols = ['AAPL', 'MSFT', 'GOOG', 'AMZN', 'NVDA', 'TSLA', 'META', 'ORCL'];
  const small = buildCorpus('small JSON events with id', (i) => {
    const payload = JSON.stringify({
      symbol: symbols[i % symbols.length],
      price: Math.round(random() * 100000) / 100,
      volume: Math.floor(random() * 1e6),
      ts: 1_700_000_000_000 + i * 37,
      note: 'caf\u00e9 \u20ac',
    });
    return `id: ${i}\nevent: tick\ndata: ${payload}\n\n`;
  });

  const words = ['lorem', 'ipsum', 'dolor', 'sit', 'amet', 'consectetur', 'adipiscing', 'elit'];
  const line = (): string => {
    let out = '';
    while (out.length < 70) out += `${words[Math.floor(random() * words.length)]} `;
    return out;
  };
  const multiLine = buildCorpus('large multi-line data (20 lines)', (i) => {
    let event = `id: log-${i}\n`;
    for (let l = 0; l < 20; l++) event += `data: ${line()}\n`;
    return `${event}\n`;
  });

  const crlf = buildCorpus('CRLF, comments, small data', (i) =>
    i % 10 === 0 ? ': keep-alive\r\n\r\n' : `id: ${i}\r\ndata: {"n":${i},"ok":true}\r\n\r\n`,
  );
  // The CRLF corpus has comment-only blocks, which dispatch no event.
  crlf.events = crlf.events - Math.ceil(crlf.events / 10);
  return [small, multiLine, crlf];
}

function chunkBytes(bytes: Uint8Array): Uint8Array[] {
  const chunks: Uint8Array[] = [];
  for (let i = 0; i < bytes.length; i += CHUNK_SIZE) chunks.push(bytes.subarray(i, i + CHUNK_SIZE));
  return chunks;
}

/**
 * Text chunks as a client gets them: the byte chunks through a streaming TextDecoder (as
 * `TextDecoderStream` does). These are flat strings; slices of one big string would not be, and
 * would measure V8's sliced-string indirection rather than the parsers.
 */
function chunkText(bytes: Uint8Array): string[] {
  const decoder = new TextDecoder();
  return chunkBytes(bytes).map((chunk) => decoder.decode(chunk, { stream: true }));
}

// ---------------------------------------------------------------------------------------------
// Parsers under test: each returns the number of events and the total data length seen.
// ---------------------------------------------------------------------------------------------

interface ParseResult {
  events: number;
  dataLength: number;
}

type ParseRun = (chunks: ReadonlyArray<string | Uint8Array>) => ParseResult;

const heraldParse: ParseRun = (chunks) => {
  const result = { events: 0, dataLength: 0 };
  const parser = createParser({
    onEvent(event) {
      result.events++;
      result.dataLength += event.data.length;
    },
  });
  for (const chunk of chunks) parser.feed(chunk);
  parser.end();
  return result;
};

// eventsource-parser takes text only: bytes go through a streaming TextDecoder first, as its
// own EventSourceParserStream does (via TextDecoderStream).
const esParserParse: ParseRun = (chunks) => {
  const result = { events: 0, dataLength: 0 };
  const parser = createEsParser({
    onEvent(event) {
      result.events++;
      result.dataLength += event.data.length;
    },
  });
  const decoder = new TextDecoder();
  for (const chunk of chunks) {
    parser.feed(typeof chunk === 'string' ? chunk : decoder.decode(chunk, { stream: true }));
  }
  return result;
};

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = sorted.length >> 1;
  return sorted.length % 2 === 1
    ? (sorted[middle] ?? 0)
    : ((sorted[middle - 1] ?? 0) + (sorted[middle] ?? 0)) / 2;
}

/**
 * Median seconds per run of each of `fns`, after warm-up. Rounds alternate between the
 * functions, so drift in machine load affects them alike.
 */
function measure(fns: ReadonlyArray<() => void>): number[] {
  for (let i = 0; i < WARMUP_ROUNDS; i++) for (const fn of fns) fn();
  const samples = fns.map((): number[] => []);
  for (let i = 0; i < MEASURED_ROUNDS; i++) {
    fns.forEach((fn, f) => {
      const start = process.hrtime.bigint();
      fn();
      samples[f]?.push(Number(process.hrtime.bigint() - start) / 1e9);
    });
  }
  return samples.map(median);
}

// ---------------------------------------------------------------------------------------------
// Encode
// ---------------------------------------------------------------------------------------------

function encodeInputs(): Array<Required<Pick<EventFields, 'id' | 'event' | 'data'>>> {
  const random = prng(7);
  return Array.from({ length: 1024 }, (_, i) => ({
    id: String(100000 + i),
    event: i % 3 === 0 ? 'update' : 'tick',
    data: JSON.stringify({ i, v: Math.round(random() * 1e6), s: 'abc\u00e9' }),
  }));
}

const ENCODE_OPS = 200_000;

function encodeBench(): Array<[string, number]> {
  const inputs = encodeInputs();
  const mask = inputs.length - 1;
  let sink = 0;
  const cases: Array<[string, () => void]> = [
    [
      'encodeEvent',
      () => {
        for (let i = 0; i < ENCODE_OPS; i++) sink += encodeEvent(inputs[i & mask] ?? {}).length;
      },
    ],
    [
      'naive template literal (no checks)',
      () => {
        for (let i = 0; i < ENCODE_OPS; i++) {
          const e = inputs[i & mask];
          if (e === undefined) continue;
          sink += `id: ${e.id}\nevent: ${e.event}\ndata: ${e.data}\n\n`.length;
        }
      },
    ],
    [
      'encodeEventBytes',
      () => {
        for (let i = 0; i < ENCODE_OPS; i++) {
          sink += encodeEventBytes(inputs[i & mask] ?? {}).length;
        }
      },
    ],
    [
      'naive template + TextEncoder',
      () => {
        for (let i = 0; i < ENCODE_OPS; i++) {
          const e = inputs[i & mask];
          if (e === undefined) continue;
          sink += encoder.encode(`id: ${e.id}\nevent: ${e.event}\ndata: ${e.data}\n\n`).length;
        }
      },
    ],
  ];
  const seconds = measure(cases.map(([, fn]) => fn));
  const rows = cases.map(([name], i): [string, number] => [name, ENCODE_OPS / (seconds[i] ?? 0)]);
  if (sink === 0) throw new Error('encode benchmark produced no output');
  return rows;
}

// ---------------------------------------------------------------------------------------------
// Topic matching
// ---------------------------------------------------------------------------------------------

const MATCH_OPS = 20_000;

/** Lookups per second of one event topic against an index of subscribers' selectors. */
function matchBench(): Array<[string, string, number, number]> {
  const cases: Array<[string, string[], string]> = [
    [
      '1000 exact topics',
      Array.from({ length: 1000 }, (_, i) => `https://example.com/users/${i}`),
      'https://example.com/users/500',
    ],
    [
      '1000 templates, distinct prefixes',
      Array.from({ length: 1000 }, (_, i) => `https://example.com/users/${i}/{+rest}`),
      'https://example.com/users/500/notes/1',
    ],
    [
      '600 × {+vN:100} (one language)',
      Array.from({ length: 600 }, (_, i) => `{+v${i}:100}`),
      'https://example.com/users/500',
    ],
    [
      '700 × {+a}qN{+b} (distinct, unanchored)',
      Array.from({ length: 700 }, (_, i) => `{+a}q${i}{+b}`),
      'https://example.com/users/500',
    ],
  ];
  const rows: Array<[string, string, number, number]> = [];
  for (const [name, selectors, topic] of cases) {
    const index = new TopicIndex<number>();
    for (const [i, s] of selectors.entries()) index.add(i, [s]);
    const topics = [topic];
    let visited = 0;
    const visit = (): void => {
      visited++;
    };
    const [seconds = 0] = measure([
      () => {
        for (let i = 0; i < MATCH_OPS; i++) index.forEachMatch(topics, visit);
      },
    ]);
    const matched = index.forEachMatch(topics, visit);
    if (visited === 0 && matched !== 0) throw new Error('match benchmark visited nothing');
    rows.push([name, topic, matched, MATCH_OPS / seconds]);
  }
  return rows;
}

// ---------------------------------------------------------------------------------------------
// Main
// ---------------------------------------------------------------------------------------------

function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) =>
    Math.max(h.length, ...rows.map((row) => (row[i] ?? '').length)),
  );
  const line = (cells: string[]) =>
    cells
      .map((cell, i) => (i === 0 ? cell.padEnd(widths[i] ?? 0) : cell.padStart(widths[i] ?? 0)))
      .join('  ');
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}

function main(): void {
  const started = performance.now();
  console.log(
    `herald protocol bench — node ${process.version}, ${CHUNK_SIZE / 1024} KiB chunks, ` +
      `median of ${MEASURED_ROUNDS} rounds after ${WARMUP_ROUNDS} warm-up\n`,
  );
  const parseRows: string[][] = [];
  for (const corpus of corpora()) {
    const inputs: Array<[string, ReadonlyArray<string | Uint8Array>]> = [
      ['bytes', chunkBytes(corpus.bytes)],
      ['string', chunkText(corpus.bytes)],
    ];
    for (const [kind, chunks] of inputs) {
      const herald = heraldParse(chunks);
      const reference = esParserParse(chunks);
      if (herald.events !== corpus.events || reference.events !== corpus.events) {
        throw new Error(
          `event count mismatch on "${corpus.name}" (${kind}): expected ${corpus.events}, herald ${herald.events}, eventsource-parser ${reference.events}`,
        );
      }
      if (herald.dataLength !== reference.dataLength) {
        throw new Error(`data mismatch on "${corpus.name}" (${kind})`);
      }
      const mb = corpus.bytes.length / 1e6;
      const [heraldSeconds = 0, referenceSeconds = 0] = measure([
        () => heraldParse(chunks),
        () => esParserParse(chunks),
      ]);
      const heraldMBs = mb / heraldSeconds;
      const referenceMBs = mb / referenceSeconds;
      parseRows.push([
        corpus.name,
        kind,
        `${mb.toFixed(1)} MB / ${corpus.events}`,
        heraldMBs.toFixed(0),
        referenceMBs.toFixed(0),
        `${(heraldMBs / referenceMBs).toFixed(2)}x`,
      ]);
    }
  }
  console.log('Parse throughput (MB/s of UTF-8 input; event counts checked equal)');
  console.log(
    table(['corpus', 'input', 'size / events', 'herald', 'eventsource-parser', 'ratio'], parseRows),
  );

  const encodeRows = encodeBench().map(([name, perSecond]) => [
    name,
    `${(perSecond / 1e6).toFixed(2)} M`,
  ]);
  console.log('\nEncode throughput (events/s; id + event + one JSON data line)');
  console.log(table(['encoder', 'events/s'], encodeRows));

  const matchRows = matchBench().map(([name, topic, matched, perSecond]) => [
    name,
    topic,
    String(matched),
    perSecond >= 1e6 ? `${(perSecond / 1e6).toFixed(2)} M` : `${(perSecond / 1e3).toFixed(0)} k`,
  ]);
  console.log('\nTopic matching (TopicIndex.forEachMatch lookups/s, one topic per event)');
  console.log(table(['subscribers', 'event topic', 'matched', 'lookups/s'], matchRows));
  console.log(`\ntotal ${((performance.now() - started) / 1000).toFixed(1)} s`);
}

main();
