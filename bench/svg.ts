/**
 * Small inline SVG charts for the HTML report: bars with min/max whiskers and
 * line charts. No library: the report stays one self-contained file, and these
 * two chart kinds need a few hundred lines, not a dependency.
 *
 * What a reader needs from them (learned by reading the first reports):
 * - ticks on round values (1, 2, 5 x 10^k), never 28k/55k/83k;
 * - a log axis when values span decades, so a 111 ms bar stays visible next
 *   to a 3,205 ms one (the axis says "log");
 * - value labels above the whisker, never crossed by it;
 * - axis titles clear of the tick labels, the legend clear of both;
 * - lines told apart without colour: dash pattern, marker shape and width
 *   differ per series, and wider lines are drawn first so an overlapping
 *   narrower one stays visible on top;
 * - responsive: a viewBox and width 100 %, so a chart fills its grid cell.
 */

/** Okabe-Ito: distinguishable with the common colour-vision deficiencies. */
const PALETTE = ['#0072b2', '#d55e00', '#009e73', '#cc79a7', '#e69f00', '#56b4e9', '#000000']
const DASHES = ['', '7 3', '2 3', '10 3 2 3', '4 4', '1 2', '12 4']
const MARKERS = ['circle', 'square', 'triangle', 'diamond', 'cross', 'circle-open', 'square-open'] as const
const FONT = 11
/** Rough width of one character at FONT px in the system sans-serif (for layout, not typography). */
const CHAR_W = 6.2

export function color (i: number): string { return PALETTE[i % PALETTE.length]! }

export function esc (s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;')
}

/** Value label: compact, three significant digits at most. */
export function niceNum (v: number): string {
  if (!Number.isFinite(v)) return '-'
  const a = Math.abs(v)
  if (a >= 1e6) return `${trim((v / 1e6).toPrecision(3))}M`
  if (a >= 1e4) return `${trim((v / 1e3).toPrecision(3))}k`
  if (a >= 100) return v.toFixed(0)
  if (a === 0) return '0'
  return trim(v.toPrecision(3))
}

const trim = (s: string): string => s.includes('.') && !s.includes('e') ? s.replace(/\.?0+$/, '') : s

/** Round tick positions covering [lo, hi]: steps of 1, 2 or 5 x 10^k, about `target` of them. */
export function niceTicks (lo: number, hi: number, target = 5): number[] {
  if (!Number.isFinite(lo) || !Number.isFinite(hi)) return [0, 1]
  if (hi <= lo) hi = lo + (lo === 0 ? 1 : Math.abs(lo) * 0.1)
  const raw = (hi - lo) / Math.max(1, target)
  const mag = 10 ** Math.floor(Math.log10(raw))
  const f = raw / mag
  const step = (f < 1.5 ? 1 : f < 3 ? 2 : f < 7 ? 5 : 10) * mag
  const start = Math.floor(lo / step + 1e-9) * step
  const ticks: number[] = []
  for (let v = start; v < hi + step * 0.999; v += step) ticks.push(Number(v.toPrecision(12)))
  return ticks
}

/** Log ticks: every decade, and 2 and 5 between when there are few decades. */
export function logTicks (lo: number, hi: number): number[] {
  const d0 = Math.floor(Math.log10(lo))
  const d1 = Math.ceil(Math.log10(hi))
  const ticks: number[] = []
  for (let d = d0; d <= d1; d++) {
    for (const m of d1 - d0 <= 2 ? [1, 2, 5] : [1]) {
      const v = Number((m * 10 ** d).toPrecision(12))
      if (v >= lo * 0.999 && v <= hi * 1.001) ticks.push(v)
    }
  }
  return ticks
}

/** A tick label: integers as they are (k/M above 10,000), decimals as the step needs. */
function tickLabel (v: number, step: number): string {
  if (Math.abs(v) >= 1e4) return niceNum(v)
  if (step >= 1 || v === 0) return trim(v.toFixed(0))
  const decimals = Math.min(6, Math.max(0, -Math.floor(Math.log10(step) + 1e-9)))
  return trim(v.toFixed(decimals))
}

/** Whether values spanning [lo, hi] read better on a log axis (a factor of 20 or more). */
export function wantsLog (values: number[]): boolean {
  const positive = values.filter((v) => Number.isFinite(v) && v > 0)
  if (positive.length < 2 || positive.length < values.filter(Number.isFinite).length) return false
  return Math.max(...positive) / Math.min(...positive) >= 20
}

interface Axis { scale(v: number): number, ticks: number[], labels: string[], log: boolean }

/** Maps data to pixels in [p0, p1] (p1 may be smaller: y grows downwards). */
function axis (lo: number, hi: number, p0: number, p1: number, log: boolean, fromZero: boolean): Axis {
  if (log) {
    const a = 10 ** Math.floor(Math.log10(lo))
    const b = 10 ** Math.ceil(Math.log10(hi))
    const ticks = logTicks(a, b)
    const span = Math.log10(b) - Math.log10(a) || 1
    return { scale: (v) => p0 + (p1 - p0) * (Math.log10(Math.max(v, a)) - Math.log10(a)) / span, ticks, labels: ticks.map((v) => niceNum(v)), log }
  }
  const ticks = niceTicks(fromZero ? Math.min(0, lo) : lo, hi)
  const a = ticks[0]!
  const b = ticks[ticks.length - 1]!
  const step = ticks.length > 1 ? ticks[1]! - ticks[0]! : 1
  return { scale: (v) => p0 + (p1 - p0) * (v - a) / ((b - a) || 1), ticks, labels: ticks.map((v) => tickLabel(v, step)), log }
}

const textWidth = (s: string, size = FONT): number => s.length * CHAR_W * size / FONT

function open (title: string, width: number, height: number): string[] {
  // Grows with its cell, but not so far that the text turns into a poster (wide charts are wide already).
  const grow = width > 800 ? 1.2 : 1.6
  return [`<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${width} ${height}" width="100%" style="max-width:${Math.round(width * grow)}px" ` +
    `font-family="system-ui,sans-serif" font-size="${FONT}" role="img" aria-label="${esc(title)}"><title>${esc(title)}</title>`,
    `<text x="${width / 2}" y="17" text-anchor="middle" font-size="13" font-weight="600">${esc(title)}</text>`]
}

function yAxis (parts: string[], y: Axis, left: number, right: number, title: string, plotTop: number, plotBottom: number, labelRight: number): void {
  y.ticks.forEach((v, i) => {
    const py = y.scale(v)
    parts.push(`<line x1="${left}" x2="${right}" y1="${py.toFixed(1)}" y2="${py.toFixed(1)}" stroke="#e5e7eb"/>`,
      `<text x="${labelRight}" y="${(py + 4).toFixed(1)}" text-anchor="end" fill="#374151">${y.labels[i]}</text>`)
  })
  const mid = (plotTop + plotBottom) / 2
  parts.push(`<text x="14" y="${mid}" transform="rotate(-90 14 ${mid})" text-anchor="middle" fill="#111">${esc(title)}${y.log ? ' (log)' : ''}</text>`)
}

export interface Bar { label: string, value: number, min: number, max: number, /** second label line */ sub?: string, colorIndex?: number }

export function barChart (title: string, unit: string, bars: Bar[], width = 640, height = 280, yMax?: number): string {
  const values = bars.flatMap((b) => [b.value, b.min, b.max]).filter(Number.isFinite)
  const log = wantsLog(bars.map((b) => b.value).filter(Number.isFinite)) && values.every((v) => v > 0)
  const hasSub = bars.some((b) => b.sub !== undefined)
  const top = 30
  const bottom = height - (hasSub ? 38 : 24)
  const lo = log ? Math.min(...values) : 0
  const hi = yMax ?? Math.max(1e-9, ...values) * (log ? 1 : 1.08)
  // Labels first, to know how much room the y axis needs.
  const probe = axis(lo, hi, bottom, top + 14, log, true)
  const left = 24 + Math.max(...probe.labels.map((l) => textWidth(l))) + 8
  const y = axis(lo, hi, bottom, top + 14, log, true)
  const parts = open(title, width, height)
  yAxis(parts, y, left, width - 8, unit, top, bottom, left - 6)
  const w = (width - left - 8) / Math.max(1, bars.length)
  const base = y.scale(y.ticks[0]!)
  bars.forEach((b, i) => {
    const bw = Math.min(w * 0.6, 90)
    const x = left + i * w + (w - bw) / 2
    const cx = x + bw / 2
    let labelY = bottom
    if (Number.isFinite(b.value)) {
      const vy = y.scale(b.value)
      parts.push(`<rect x="${x.toFixed(1)}" y="${vy.toFixed(1)}" width="${bw.toFixed(1)}" height="${Math.max(0, base - vy).toFixed(1)}" fill="${color(b.colorIndex ?? i)}" opacity="0.85">` +
        `<title>${esc(b.label)}${b.sub !== undefined ? ` ${esc(b.sub)}` : ''}: ${niceNum(b.value)} ${esc(unit)} (min ${niceNum(b.min)}, max ${niceNum(b.max)})</title></rect>`)
      labelY = vy
    }
    if (Number.isFinite(b.min) && Number.isFinite(b.max) && b.max > b.min) {
      const y0 = y.scale(b.min)
      const y1 = y.scale(b.max)
      parts.push(`<line x1="${cx.toFixed(1)}" x2="${cx.toFixed(1)}" y1="${y0.toFixed(1)}" y2="${y1.toFixed(1)}" stroke="#111" stroke-width="1.5"/>`,
        `<line x1="${(cx - 6).toFixed(1)}" x2="${(cx + 6).toFixed(1)}" y1="${y0.toFixed(1)}" y2="${y0.toFixed(1)}" stroke="#111"/>`,
        `<line x1="${(cx - 6).toFixed(1)}" x2="${(cx + 6).toFixed(1)}" y1="${y1.toFixed(1)}" y2="${y1.toFixed(1)}" stroke="#111"/>`)
      labelY = Math.min(labelY, y1)
    }
    // Above the bar and its whisker cap, so no line crosses the number.
    if (Number.isFinite(b.value)) {
      parts.push(`<text x="${cx.toFixed(1)}" y="${(labelY - 5).toFixed(1)}" text-anchor="middle" font-weight="600">${niceNum(b.value)}</text>`)
    }
    parts.push(`<text x="${cx.toFixed(1)}" y="${bottom + 15}" text-anchor="middle">${esc(b.label)}</text>`)
    if (b.sub !== undefined) parts.push(`<text x="${cx.toFixed(1)}" y="${bottom + 29}" text-anchor="middle" fill="#4b5563" font-size="10">${esc(b.sub)}</text>`)
  })
  parts.push(`<line x1="${left}" x2="${width - 8}" y1="${base.toFixed(1)}" y2="${base.toFixed(1)}" stroke="#6b7280"/>`, '</svg>')
  return parts.join('')
}

export interface Series { label: string, points: Array<[number, number]> }

function marker (kind: typeof MARKERS[number], x: number, y: number, fill: string): string {
  const p = (n: number): string => n.toFixed(1)
  switch (kind) {
    case 'circle': return `<circle cx="${p(x)}" cy="${p(y)}" r="3.2" fill="${fill}"/>`
    case 'circle-open': return `<circle cx="${p(x)}" cy="${p(y)}" r="3.2" fill="#fff" stroke="${fill}" stroke-width="1.5"/>`
    case 'square': return `<rect x="${p(x - 3)}" y="${p(y - 3)}" width="6" height="6" fill="${fill}"/>`
    case 'square-open': return `<rect x="${p(x - 3)}" y="${p(y - 3)}" width="6" height="6" fill="#fff" stroke="${fill}" stroke-width="1.5"/>`
    case 'triangle': return `<path d="M${p(x)},${p(y - 4)} L${p(x + 4)},${p(y + 3)} L${p(x - 4)},${p(y + 3)} Z" fill="${fill}"/>`
    case 'diamond': return `<path d="M${p(x)},${p(y - 4)} L${p(x + 4)},${p(y)} L${p(x)},${p(y + 4)} L${p(x - 4)},${p(y)} Z" fill="${fill}"/>`
    case 'cross': return `<path d="M${p(x - 3)},${p(y - 3)} L${p(x + 3)},${p(y + 3)} M${p(x + 3)},${p(y - 3)} L${p(x - 3)},${p(y + 3)}" stroke="${fill}" stroke-width="2"/>`
  }
}

/** Series i's line width: wider for earlier series, drawn first, so later ones show on top of them. */
const lineWidth = (i: number, n: number): number => n <= 1 ? 2 : Math.max(1.5, 2 + 2.5 * (n - 1 - i) / (n - 1))

export function lineChart (title: string, xLabel: string, yLabel: string, series: Series[],
  opts: { logX?: boolean, width?: number, height?: number, yMax?: number, xMin?: number, step?: boolean } = {}): string {
  const width = opts.width ?? 640
  const drawn = series.map((s) => ({ ...s, points: s.points.filter((p) => Number.isFinite(p[0]) && Number.isFinite(p[1]) && (!opts.logX || p[0] > 0)) }))
  // Legend rows under the x axis title, laid out by text width.
  const legendItems = drawn.map((s) => 34 + textWidth(s.label) + 14)
  const rows: number[][] = [[]]
  let rowW = 0
  legendItems.forEach((w, i) => {
    if (rowW + w > width - 60 && rows[rows.length - 1]!.length > 0) { rows.push([]); rowW = 0 }
    rows[rows.length - 1]!.push(i)
    rowW += w
  })
  const height = (opts.height ?? 280) + (rows.length - 1) * 16
  const parts = open(title, width, height)
  const xs = drawn.flatMap((s) => s.points.map((p) => p[0]))
  const ys = drawn.flatMap((s) => s.points.map((p) => p[1]))
  if (xs.length === 0) {
    parts.push(`<text x="${width / 2}" y="${height / 2}" text-anchor="middle" fill="#6b7280">no samples</text></svg>`)
    return parts.join('')
  }
  const top = 30
  const bottom = height - 18 - 16 - rows.length * 16 - 4
  const x0 = opts.xMin ?? Math.min(...xs)
  const x1 = Math.max(...xs)
  const yHi = opts.yMax ?? Math.max(1e-9, ...ys) * 1.05
  const probe = axis(0, yHi, bottom, top + 8, false, true)
  const left = 24 + Math.max(...probe.labels.map((l) => textWidth(l))) + 8
  const right = width - 14
  const y = axis(0, yHi, bottom, top + 8, false, true)
  const x = opts.logX === true
    ? axis(Math.max(x0, 1e-6), Math.max(x1, x0 * 10), left, right, true, false)
    : axis(x0, x1 > x0 ? x1 : x0 + 1, left, right, false, opts.xMin === 0)
  yAxis(parts, y, left, right, yLabel, top, bottom, left - 6)
  x.ticks.forEach((v, i) => {
    const px = x.scale(v)
    parts.push(`<line x1="${px.toFixed(1)}" x2="${px.toFixed(1)}" y1="${top + 8}" y2="${bottom}" stroke="#f0f1f3"/>`,
      `<text x="${px.toFixed(1)}" y="${bottom + 14}" text-anchor="middle" fill="#374151">${x.labels[i]}</text>`)
  })
  parts.push(`<line x1="${left}" x2="${right}" y1="${bottom}" y2="${bottom}" stroke="#6b7280"/>`,
    `<text x="${(left + right) / 2}" y="${bottom + 31}" text-anchor="middle">${esc(xLabel)}${x.log ? ' (log)' : ''}</text>`)
  const n = drawn.length
  drawn.forEach((s, i) => {
    let pts = s.points
    // A CDF is a step function: hold each level until the next sample.
    if (opts.step === true && pts.length > 0) pts = [[pts[0]![0], 0], ...pts.flatMap((p, k) => k === 0 ? [p] : [[p[0], pts[k - 1]![1]] as [number, number], p])]
    if (pts.length === 0) return
    const dash = DASHES[i % DASHES.length]!
    parts.push(`<polyline fill="none" stroke="${color(i)}" stroke-width="${lineWidth(i, n).toFixed(1)}" stroke-linejoin="round"${dash !== '' ? ` stroke-dasharray="${dash}"` : ''} ` +
      `points="${pts.map((p) => `${x.scale(p[0]).toFixed(1)},${y.scale(p[1]).toFixed(1)}`).join(' ')}"><title>${esc(s.label)}</title></polyline>`)
    // A few markers per line, staggered between series so they do not sit on each other.
    const count = Math.min(6, s.points.length)
    for (let k = 0; k < count; k++) {
      const idx = Math.min(s.points.length - 1, Math.floor((k + (i + 1) / (n + 1)) * s.points.length / count))
      const p = s.points[idx]!
      parts.push(marker(MARKERS[i % MARKERS.length]!, x.scale(p[0]), y.scale(p[1]), color(i)))
    }
  })
  // Legend: the line sample shows the dash, the width and the marker, not only the colour.
  rows.forEach((row, r) => {
    let lx = left - 20
    const ly = bottom + 48 + r * 16
    for (const i of row) {
      const dash = DASHES[i % DASHES.length]!
      parts.push(`<line x1="${lx}" x2="${lx + 26}" y1="${ly - 4}" y2="${ly - 4}" stroke="${color(i)}" stroke-width="${lineWidth(i, n).toFixed(1)}"${dash !== '' ? ` stroke-dasharray="${dash}"` : ''}/>`,
        marker(MARKERS[i % MARKERS.length]!, lx + 13, ly - 4, color(i)),
        `<text x="${lx + 32}" y="${ly}">${esc(drawn[i]!.label)}</text>`)
      lx += legendItems[i]!
    }
  })
  parts.push('</svg>')
  return parts.join('')
}
