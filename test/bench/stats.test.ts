import t from 'tap'
import { aedesBaselineFor, summarize } from '../../bench/aggregate.js'
import type { RunResult } from '../../bench/scenarios/common.js'
import { evaluate, type Window } from '../../bench/self-check.js'
import { cdf, logHistogram, percentile, ratio, spread, summarizeLatencies } from '../../bench/stats.js'

t.test('percentiles interpolate between ranks', async (t) => {
  const xs = [5, 1, 4, 2, 3]
  t.equal(percentile(xs, 50), 3)
  t.equal(percentile(xs, 0), 1)
  t.equal(percentile(xs, 100), 5)
  t.equal(percentile(xs, 25), 2)
  t.equal(percentile([10, 20], 99), 19.9)
  t.ok(Number.isNaN(percentile([], 50)), 'no samples: NaN, never 0')
  const s = summarizeLatencies(Array.from({ length: 100 }, (_, i) => i + 1))
  t.equal(s.p50, 50.5)
  t.equal(Math.round(s.p99 * 100) / 100, 99.01)
  t.same([s.min, s.max, s.count, s.mean], [1, 100, 100, 50.5])
})

t.test('spread gives median, min and max across repetitions, ignoring failed ones', async (t) => {
  t.same(spread([3, 1, 2]), { median: 2, min: 1, max: 3, n: 3 })
  t.same(spread([4, 1, 2, 3]), { median: 2.5, min: 1, max: 4, n: 4 })
  t.same(spread([NaN, 7]), { median: 7, min: 7, max: 7, n: 1 })
  t.equal(spread([]).n, 0)
})

t.test('ratios are of same-run medians and undefined against a zero or missing baseline', async (t) => {
  t.equal(ratio(50, 100), 0.5)
  t.ok(Number.isNaN(ratio(1, 0)))
  t.ok(Number.isNaN(ratio(1, NaN)))
})

t.test('histogram bins hold every sample; the CDF ends at 1', async (t) => {
  const xs = [0.1, 0.2, 1, 10, 100, 1000, 0]
  const bins = logHistogram(xs, 10)
  t.equal(bins.length, 10)
  t.equal(bins.reduce((a, b) => a + b.count, 0), xs.length)
  t.ok(bins.every((b, i) => i === 0 || b.lo >= bins[i - 1]!.lo), 'bins ascend')
  const c = cdf([3, 1, 2, 4], 100)
  t.same(c[0], [1, 0.25])
  t.same(c[c.length - 1], [4, 1])
})

function run (target: string, rep: number, rxRate: number): RunResult {
  return { scenario: 'fanin', target, rep, params: {}, metrics: { rxRate }, selfCheck: evaluate([], 2), notes: [] }
}

t.test('summary rows carry min/median/max and ratios vs Aedes (same persistence) and Mosquitto', async (t) => {
  const runs = [run('vigil', 1, 90), run('vigil', 2, 100), run('vigil', 3, 80),
    run('aedes', 1, 200), run('aedes', 2, 180), run('aedes', 3, 220),
    run('mosquitto', 1, 400), run('mosquitto', 2, 400), run('mosquitto', 3, 400)]
  const rows = summarize('fanin', [{ key: 'rxRate', label: 'received', unit: 'msg/s', better: 'higher' }], runs)
  const vigil = rows.find((r) => r.target === 'vigil')!
  t.same([vigil.median, vigil.min, vigil.max], [90, 80, 100])
  t.equal(vigil.vsAedes, 0.45)
  t.equal(vigil.vsMosquitto, 0.225)
  t.ok(Number.isNaN(rows.find((r) => r.target === 'aedes')!.vsAedes), 'no ratio of a baseline to itself')
  t.equal(aedesBaselineFor('vigil-redis', ['vigil-redis', 'aedes', 'aedes-redis']), 'aedes-redis')
  t.equal(aedesBaselineFor('vigil', ['vigil', 'mosquitto']), null)
})

t.test('the self-check flags a saturated harness or machine, not a busy broker alone', async (t) => {
  const w = (harnessElu: number, machineBusy: number, brokerCpu: number): Window =>
    ({ t: 0, harnessCpu: 0.5, harnessElu, workersCpu: 0, brokerCpu, brokerRss: 1, machineBusy })
  t.same(evaluate([w(0.3, 0.5, 0.4), w(0.4, 0.6, 0.5)], 2).flags, [])
  const harness = evaluate([w(0.95, 0.5, 0.4), w(0.3, 0.5, 0.4)], 2).flags
  t.match(harness[0], /HARNESS-SATURATED .* 1\/2 windows/)
  t.match(evaluate([w(0.3, 0.99, 0.4)], 2).flags[0], /MACHINE-SATURATED/)
  const broker = evaluate([w(0.3, 0.6, 0.99)], 2)
  t.match(broker.flags[0], /broker-bound/)
  t.equal(broker.brokerCpuMax, 0.99)
})
