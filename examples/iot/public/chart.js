// A small hand-drawn SVG line chart: no chart library, ~100 lines.
//
// Time runs left to right over the last `windowMs`; the y range fits the data and the
// device's normal range (drawn as a soft band). Where readings stop for longer than `gapMs`
// (the device was offline) the line breaks instead of drawing a misleading straight segment.

const PAD = { top: 10, right: 12, bottom: 20, left: 44 };

/**
 * Draws `points` ([{ t, value }], oldest first) into `svg`.
 *
 * @param {SVGSVGElement} svg
 * @param {{ t: number, value: number }[]} points
 * @param {{ now: number, windowMs: number, gapMs: number, ok: [number, number],
 *           color: string, decimals: number, id: string }} o
 */
export function drawChart(svg, points, o) {
  const width = svg.clientWidth || 300;
  const height = svg.clientHeight || 120;
  const plotW = width - PAD.left - PAD.right;
  const plotH = height - PAD.top - PAD.bottom;
  const start = o.now - o.windowMs;
  const shown = points.filter((p) => p.t >= start - o.gapMs);

  // The y range: the data and the normal range, with a little air.
  let lo = o.ok[0];
  let hi = o.ok[1];
  for (const p of shown) {
    if (p.value < lo) lo = p.value;
    if (p.value > hi) hi = p.value;
  }
  const air = (hi - lo) * 0.12 || 1;
  lo -= air;
  hi += air;

  const x = (t) => PAD.left + ((t - start) / o.windowMs) * plotW;
  const y = (v) => PAD.top + (1 - (v - lo) / (hi - lo)) * plotH;
  const f = (n) => n.toFixed(1);

  // Split into segments where the device went quiet.
  const segments = [];
  let current = [];
  for (const p of shown) {
    const prev = current.at(-1);
    if (prev && p.t - prev.t > o.gapMs) {
      segments.push(current);
      current = [];
    }
    current.push(p);
  }
  if (current.length > 0) segments.push(current);

  const parts = [];
  parts.push(
    `<defs><linearGradient id="fill-${o.id}" x1="0" y1="0" x2="0" y2="1">` +
      `<stop offset="0" stop-color="${o.color}" stop-opacity="0.28"/>` +
      `<stop offset="1" stop-color="${o.color}" stop-opacity="0"/></linearGradient>` +
      `<clipPath id="clip-${o.id}"><rect x="${PAD.left}" y="0" width="${plotW}" height="${height}"/></clipPath></defs>`,
  );
  // The normal range, with grid lines at its edges and middle, labelled.
  parts.push(
    `<rect class="ok-band" x="${PAD.left}" y="${f(y(o.ok[1]))}" width="${plotW}" height="${f(y(o.ok[0]) - y(o.ok[1]))}"/>`,
  );
  for (const v of [o.ok[0], (o.ok[0] + o.ok[1]) / 2, o.ok[1]]) {
    parts.push(
      `<line class="gridline" x1="${PAD.left}" x2="${width - PAD.right}" y1="${f(y(v))}" y2="${f(y(v))}"/>`,
      `<text class="axis" x="${PAD.left - 6}" y="${f(y(v) + 3.5)}" text-anchor="end">${v.toFixed(o.decimals)}</text>`,
    );
  }
  // Time labels.
  const span = (ms) =>
    ms >= 60_000 ? `−${+(ms / 60_000).toFixed(1)} min` : `−${Math.round(ms / 1000)} s`;
  for (const [t, label] of [
    [start, span(o.windowMs)],
    [start + o.windowMs / 2, span(o.windowMs / 2)],
    [o.now, 'now'],
  ]) {
    const anchor = t === start ? 'start' : t === o.now ? 'end' : 'middle';
    parts.push(
      `<text class="axis" x="${f(x(t))}" y="${height - 5}" text-anchor="${anchor}">${label}</text>`,
    );
  }
  // The data: an area and a line per segment, clipped to the plot.
  parts.push(`<g clip-path="url(#clip-${o.id})">`);
  for (const seg of segments) {
    const line = seg.map((p, i) => `${i === 0 ? 'M' : 'L'}${f(x(p.t))},${f(y(p.value))}`).join('');
    const base = f(PAD.top + plotH);
    const area = `${line}L${f(x(seg.at(-1).t))},${base}L${f(x(seg[0].t))},${base}Z`;
    parts.push(
      `<path d="${area}" fill="url(#fill-${o.id})"/>`,
      `<path class="series" d="${line}" stroke="${o.color}"/>`,
    );
  }
  parts.push('</g>');
  const last = shown.at(-1);
  if (last && last.t >= start) {
    parts.push(
      `<circle cx="${f(x(last.t))}" cy="${f(y(last.value))}" r="7" fill="${o.color}" opacity="0.18"/>`,
      `<circle cx="${f(x(last.t))}" cy="${f(y(last.value))}" r="3.2" fill="${o.color}"/>`,
    );
  }
  svg.setAttribute('viewBox', `0 0 ${width} ${height}`);
  svg.innerHTML = parts.join('');
}
