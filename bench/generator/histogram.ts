/** HDR histograms of microseconds, and their transport between processes. */
import {
  build,
  decodeFromCompressedBase64,
  encodeIntoCompressedBase64,
  type Histogram,
} from 'hdr-histogram-js';

/** A histogram of µs values from 1 µs to an hour, 3 significant digits. */
export function microsHistogram(): Histogram {
  return build({
    lowestDiscernibleValue: 1,
    highestTrackableValue: 3_600_000_000,
    numberOfSignificantValueDigits: 3,
    autoResize: true,
  });
}

/** Encodes a histogram for the IPC channel. */
export function encodeHistogram(histogram: Histogram): string {
  return encodeIntoCompressedBase64(histogram);
}

/** Adds encoded histograms (one per worker) into one. */
export function mergeHistograms(encoded: readonly string[]): Histogram {
  const merged = microsHistogram();
  for (const text of encoded) merged.add(decodeFromCompressedBase64(text));
  return merged;
}

/** Percentiles of a µs histogram, in milliseconds, for the report. */
export interface Percentiles {
  count: number;
  p50: number;
  p90: number;
  p99: number;
  p999: number;
  max: number;
}

/** The report's percentiles of `histogram`, µs converted to ms with µs precision. */
export function percentiles(histogram: Histogram): Percentiles {
  const ms = (micros: number): number => Math.round(micros) / 1000;
  return {
    count: histogram.totalCount,
    p50: ms(histogram.getValueAtPercentile(50)),
    p90: ms(histogram.getValueAtPercentile(90)),
    p99: ms(histogram.getValueAtPercentile(99)),
    p999: ms(histogram.getValueAtPercentile(99.9)),
    max: ms(histogram.maxValue),
  };
}
