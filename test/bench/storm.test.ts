import t from 'tap'
import { runBench } from '../../bench/cli.js'

const quietIo = { out: () => {}, err: () => {} }

t.test('a tiny storm run against Vigil: every device settles, nothing stale, the broker survives', async (t) => {
  const o = await runBench(['storm', '--targets', 'vigil-inproc', '--reps', '1', '--clients', '40', '--rounds', '1',
    '--grace', '0.2', '--quiet'], quietIo)
  t.same(o.errors, [])
  const run = o.runs[0]!
  const m = run.metrics
  t.equal(m.crashed, 0)
  t.equal(m.stale, 0, 'every device shows its newest birth and is online at its newest epoch')
  t.ok(m.settleMs! > 0 && Number.isFinite(m.settleMs), `settled (${m.settleMs} ms)`)
  t.ok(m.p99! >= m.p50!, 'CONNACK percentiles are measured')
  t.ok(m.stormWills! <= 40 && m.takeoverWills! <= 40, 'at most one will per closed connection')
  const rounds = run.details!.rounds as Array<{ mode: string, unsettled: number }>
  t.same(rounds.map((r) => r.mode), ['storm', 'takeover'])
  t.ok(rounds.every((r) => r.unsettled === 0))
})

t.test('storm refuses an unknown option and a bad value', async (t) => {
  await t.rejects(runBench(['storm', '--targets', 'vigil-inproc', '--wat', '1'], quietIo), /unknown option '?--wat/i)
  await t.rejects(runBench(['storm', '--targets', 'vigil-inproc', '--birth', '2'], quietIo), /--birth must be a number from 0 to 1/)
})
