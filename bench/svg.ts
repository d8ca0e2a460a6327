/**
 * Small inline SVG charts for the HTML report: bars with min/max whiskers and
 * line charts (log or linear x). No libraries: the report must be one file.
 */
const PALETTE = ['#2563eb', '#dc2626', '#16a34a', '#9333ea', '#ea580c', '#0891b2', '#4b5563']

export function color (i: number): string { return PALETTE[i % PALETTE.length]! }

export function esc (s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;')
}

function niceNum (v: number): string {
  if (!Number.isFinite(v)) return '-'
  const a = Math.abs(v)
  if (a >= 1e6) return `${(v / 1e6).toFixed(1)}M`
  if (a >= 1e4) return `${(v / 1e3).toFixed(0)}k`
  if (a >= 100) return v.toFixed(0)
  if (a >= 1) return v.toFixed(1)
  return v.toPrecision(2)
}

/** Tick label with enough decimals to tell neighbouring ticks apart. */
function tick (v: number, step: number): string {
  if (Math.abs(v) >= 1e4 || step >= 1) return niceNum(v)
  const decimals = Math.min(4, Math.max(0, Math.ceil(-Math.log10(step)) + 1))
  return v.toFixed(decimals)
}

export interface Bar { label: string, value: number, min: number, max: number, /** second label line */ sub?: string, colorIndex?: number }

export function barChart (title: string, unit: string, bars: Bar[], width = 520, height = 240): string {
  const pad = { l: 60, r: 10, t: 28, b: 40 }
  const top = Math.max(1e-9, ...bars.map((b) => Number.isFinite(b.max) ? b.max : b.value).filter(Number.isFinite)) * 1.1
  const w = (width - pad.l - pad.r) / Math.max(1, bars.length)
  const y = (v: number): number => pad.t + (height - pad.t - pad.b) * (1 - v / top)
  const parts = [`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" role="img" aria-label="${esc(title)}">`,
    `<text x="${width / 2}" y="16" text-anchor="middle" font-size="13" font-weight="600">${esc(title)}</text>`]
  for (let i = 0; i <= 4; i++) {
    const v = top * i / 4
    parts.push(`<line x1="${pad.l}" x2="${width - pad.r}" y1="${y(v)}" y2="${y(v)}" stroke="#e5e7eb"/>`,
      `<text x="${pad.l - 4}" y="${y(v) + 4}" text-anchor="end" font-size="10">${niceNum(v)}</text>`)
  }
  parts.push(`<text x="12" y="${height / 2}" font-size="10" transform="rotate(-90 12 ${height / 2})" text-anchor="middle">${esc(unit)}</text>`)
  bars.forEach((b, i) => {
    const x = pad.l + i * w + w * 0.2
    const bw = w * 0.6
    if (Number.isFinite(b.value)) {
      parts.push(`<rect x="${x}" y="${y(b.value)}" width="${bw}" height="${Math.max(0, y(0) - y(b.value))}" fill="${color(b.colorIndex ?? i)}" opacity="0.85"><title>${esc(b.label)}: ${niceNum(b.value)} ${esc(unit)}</title></rect>`)
      parts.push(`<text x="${x + bw / 2}" y="${y(b.value) - 4}" text-anchor="middle" font-size="10">${niceNum(b.value)}</text>`)
    }
    if (Number.isFinite(b.min) && Number.isFinite(b.max) && b.max > b.min) {
      const cx = x + bw / 2
      parts.push(`<line x1="${cx}" x2="${cx}" y1="${y(b.min)}" y2="${y(b.max)}" stroke="#111" stroke-width="1.5"/>`,
        `<line x1="${cx - 6}" x2="${cx + 6}" y1="${y(b.min)}" y2="${y(b.min)}" stroke="#111"/>`,
        `<line x1="${cx - 6}" x2="${cx + 6}" y1="${y(b.max)}" y2="${y(b.max)}" stroke="#111"/>`)
    }
    parts.push(`<text x="${x + bw / 2}" y="${height - pad.b + 14}" text-anchor="middle" font-size="11">${esc(b.label)}</text>`)
    if (b.sub !== undefined) parts.push(`<text x="${x + bw / 2}" y="${height - pad.b + 27}" text-anchor="middle" font-size="10" fill="#4b5563">${esc(b.sub)}</text>`)
  })
  parts.push('</svg>')
  return parts.join('')
}

export interface Series { label: string, points: Array<[number, number]> }

export function lineChart (title: string, xLabel: string, yLabel: string, series: Series[], opts: { logX?: boolean, width?: number, height?: number, yMax?: number, xMin?: number, step?: boolean } = {}): string {
  const width = opts.width ?? 520
  const height = opts.height ?? 260
  const pad = { l: 56, r: 12, t: 28, b: 58 }
  const xs = series.flatMap((s) => s.points.map((p) => p[0])).filter((v) => Number.isFinite(v) && (!opts.logX || v > 0))
  const ys = series.flatMap((s) => s.points.map((p) => p[1])).filter(Number.isFinite)
  const parts = [`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" role="img" aria-label="${esc(title)}">`,
    `<text x="${width / 2}" y="16" text-anchor="middle" font-size="13" font-weight="600">${esc(title)}</text>`]
  if (xs.length === 0) {
    parts.push(`<text x="${width / 2}" y="${height / 2}" text-anchor="middle" font-size="12" fill="#6b7280">no samples</text></svg>`)
    return parts.join('')
  }
  let x0 = opts.xMin ?? Math.min(...xs)
  let x1 = Math.max(...xs)
  if (x1 <= x0) x1 = x0 + 1
  const tx = opts.logX ? (v: number) => Math.log10(Math.max(v, x0)) : (v: number) => v
  if (opts.logX) { x0 = Math.max(x0, 1e-3) }
  const y1 = opts.yMax ?? Math.max(...ys) * 1.05
  const X = (v: number): number => pad.l + (width - pad.l - pad.r) * (tx(v) - tx(x0)) / (tx(x1) - tx(x0) || 1)
  const Y = (v: number): number => pad.t + (height - pad.t - pad.b) * (1 - v / (y1 || 1))
  for (let i = 0; i <= 4; i++) {
    const v = y1 * i / 4
    parts.push(`<line x1="${pad.l}" x2="${width - pad.r}" y1="${Y(v)}" y2="${Y(v)}" stroke="#e5e7eb"/>`,
      `<text x="${pad.l - 4}" y="${Y(v) + 4}" text-anchor="end" font-size="10">${niceNum(v)}</text>`)
  }
  for (let i = 0; i <= 5; i++) {
    const v = opts.logX ? 10 ** (tx(x0) + (tx(x1) - tx(x0)) * i / 5) : x0 + (x1 - x0) * i / 5
    parts.push(`<line x1="${X(v)}" x2="${X(v)}" y1="${pad.t}" y2="${height - pad.b}" stroke="#f3f4f6"/>`,
      `<text x="${X(v)}" y="${height - pad.b + 13}" text-anchor="middle" font-size="10">${opts.logX ? niceNum(v) : tick(v, (x1 - x0) / 5)}</text>`)
  }
  parts.push(`<text x="${(pad.l + width - pad.r) / 2}" y="${height - pad.b + 28}" text-anchor="middle" font-size="11">${esc(xLabel)}${opts.logX ? ' (log)' : ''}</text>`,
    `<text x="12" y="${(pad.t + height - pad.b) / 2}" font-size="10" transform="rotate(-90 12 ${(pad.t + height - pad.b) / 2})" text-anchor="middle">${esc(yLabel)}</text>`)
  series.forEach((s, i) => {
    let pts = s.points.filter((p) => Number.isFinite(p[0]) && Number.isFinite(p[1]) && (!opts.logX || p[0] > 0))
    // A CDF is a step function: hold each level until the next sample.
    if (opts.step === true && pts.length > 0) pts = [[pts[0]![0], 0], ...pts.flatMap((p, k) => k === 0 ? [p] : [[p[0], pts[k - 1]![1]] as [number, number], p])]
    if (pts.length > 0) parts.push(`<polyline fill="none" stroke="${color(i)}" stroke-width="2" points="${pts.map((p) => `${X(p[0]).toFixed(1)},${Y(p[1]).toFixed(1)}`).join(' ')}"/>`)
    const lx = pad.l - 40 + (i % 3) * Math.floor((width - pad.l - pad.r + 40) / 3)
    const ly = height - 22 + Math.floor(i / 3) * 12
    parts.push(`<rect x="${lx}" y="${ly - 8}" width="10" height="10" fill="${color(i)}"/><text x="${lx + 14}" y="${ly + 1}" font-size="10">${esc(s.label)}</text>`)
  })
  parts.push('</svg>')
  return parts.join('')
}
