import t from 'tap'
import { runBench } from '../../bench/cli.js'

t.test('a tiny subscribe-stall run against Vigil measures the innocent client and gets the barrier', async (t) => {
  const o = await runBench(['subscribe-stall', '--targets', 'vigil-inproc', '--reps', '1', '--retained', '200',
    '--filters', '20', '--interval', '10', '--quiet'], { out: () => {}, err: () => {} })
  t.same(o.errors, [])
  const run = o.runs[0]!
  t.same(run.notes, [], 'the barrier arrived and no round trip failed')
  const m = run.metrics
  t.ok(m.probes! >= 10, `round trips measured during the SUBSCRIBE and the second after (${m.probes})`)
  t.ok(m.worstRttMs! >= m.p99RttMs! && m.p99RttMs! > 0, 'worst >= p99 > 0')
  t.ok(m.lookupMs! >= m.subackMs! && m.subackMs! > 0, 'the barrier comes after the SUBACK')
})
