import t from 'tap'
import { runBench } from '../../bench/cli.js'

t.test('a tiny fuzz run against Vigil: the bystander loses nothing and stays connected', async (t) => {
  let console = ''
  const o = await runBench(['fuzz', '--targets', 'vigil-inproc', '--reps', '1', '--cases', '300', '--seed', '3', '--quiet'],
    { out: (s) => { console += s }, err: () => {} })
  t.same(o.errors, [])
  const m = o.runs[0]!.metrics
  t.equal(m.cases, 300)
  t.equal(m.bystanderLost, 0)
  t.equal(m.bystanderConnected, 1)
  t.ok(m.bystanderSent! > 0, `${m.bystanderSent} bystander messages`)
  t.match(console, /vigil-inproc\s+cases \(\/s\)/)
})
