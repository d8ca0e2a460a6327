/**
 * The report's charts (bench/svg.ts) read correctly: round ticks, a log axis
 * when values span decades, value labels clear of the whiskers, responsive
 * SVG, and lines told apart by more than colour.
 */
import t from 'tap'
import { barChart, lineChart, logTicks, niceTicks, wantsLog } from '../../bench/svg.js'

const isRound = (v: number): boolean => {
  if (v === 0) return true
  const m = Math.abs(v) / 10 ** Math.floor(Math.log10(Math.abs(v)) + 1e-9)
  return [1, 2, 2.5, 5].some((k) => Math.abs(m - k) < 1e-9) || Number.isInteger(Number(m.toFixed(9)))
}

t.test('ticks land on 1, 2 or 5 x 10^k steps, never 28k/55k/83k', async (t) => {
  for (const [lo, hi] of [[0, 83_000], [0, 3461], [0, 0.031], [0, 1.07], [0, 108], [12, 97]] as const) {
    const ticks = niceTicks(lo, hi)
    const step = ticks[1]! - ticks[0]!
    t.ok(isRound(step) && [1, 2, 5].includes(Number((step / 10 ** Math.floor(Math.log10(step) + 1e-9)).toFixed(6))), `${lo}..${hi}: step ${step}`)
    t.ok(ticks[0]! <= lo && ticks[ticks.length - 1]! >= hi, `${lo}..${hi}: ${ticks.join(', ')} cover the range`)
    t.ok(ticks.length >= 3 && ticks.length <= 9, 'a readable number of ticks')
  }
  t.same(niceTicks(0, 83_000), [0, 20_000, 40_000, 60_000, 80_000, 100_000])
  t.same(logTicks(100, 10_000), [100, 200, 500, 1000, 2000, 5000, 10_000])
  t.same(logTicks(0.01, 1000), [0.01, 0.1, 1, 10, 100, 1000])
})

t.test('a log axis when bars span a factor of 20: 111 ms stays visible next to 3,205 ms', async (t) => {
  t.ok(wantsLog([3205, 2400, 111]))
  t.notOk(wantsLog([42, 113, 27]), 'a factor of 4 stays linear')
  const svg = barChart('p99', 'ms', [{ label: 'vigil', value: 3205, min: 2900, max: 3600 }, { label: 'mosquitto', value: 111, min: 98, max: 130 }])
  t.match(svg, /ms \(log\)/, 'the axis says log')
  const heights = [...svg.matchAll(/<rect [^>]*height="([\d.]+)"/g)].map((m) => Number(m[1]))
  t.ok(heights[1]! > heights[0]! * 0.3, `the small bar is a real bar (${heights.join(' vs ')} px)`)
})

t.test('a value label sits above its bar and whisker cap; the chart is responsive', async (t) => {
  const svg = barChart('received', 'msg/s', [{ label: 'a', value: 50, min: 20, max: 90 }])
  const whiskerTop = Math.min(...[...svg.matchAll(/<line x1="[\d.]+" x2="[\d.]+" y1="([\d.]+)" y2="([\d.]+)" stroke="#111"/g)].flatMap((m) => [Number(m[1]), Number(m[2])]))
  const label = /<text x="[\d.]+" y="([\d.]+)" text-anchor="middle" font-weight="600">50<\/text>/.exec(svg)
  t.ok(label !== null && Number(label[1]) < whiskerTop - 2, `label baseline ${label?.[1]} above the whisker top ${whiskerTop}`)
  t.match(svg, /viewBox="0 0 640 \d+" width="100%"/)
})

t.test('lines differ by dash, width and marker, and the legend shows them', async (t) => {
  const series = ['a', 'b', 'c'].map((label, i) => ({ label, points: [[0, 0], [1, 50 + i], [2, 100]] as Array<[number, number]> }))
  const svg = lineChart('CDF', 'seconds after the fault', '% detected', series, { yMax: 100, xMin: 0, step: true })
  const lines = [...svg.matchAll(/<polyline [^>]*>/g)].map((m) => ({
    width: Number(/stroke-width="([\d.]+)"/.exec(m[0])![1]),
    dash: /stroke-dasharray="([^"]+)"/.exec(m[0])?.[1] ?? 'solid'
  }))
  t.equal(lines.length, 3)
  t.equal(new Set(lines.map((l) => l.dash)).size, 3, 'three dash patterns')
  t.ok(lines[0]!.width > lines[2]!.width, 'the first line is wider, drawn under the later ones')
  t.match(svg, /<circle[^>]*\/>.*<rect x[^>]*width="6"/s, 'different marker shapes')
  const title = /<text x="[\d.]+" y="([\d.]+)" text-anchor="middle">seconds after the fault/.exec(svg)
  const ticks = [...svg.matchAll(/<text x="[\d.]+" y="([\d.]+)" text-anchor="middle" fill="#374151">/g)].map((m) => Number(m[1]))
  t.ok(title !== null && Number(title[1]) - Math.max(...ticks) >= 14, 'the x axis title sits a line below its tick labels')
})
