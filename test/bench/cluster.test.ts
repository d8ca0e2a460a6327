/**
 * The `cluster` scenario at a tiny size, against two real nodes on a real
 * redis-server and against `vigil --workers 2` (both from dist/, built by
 * `npm test`'s pretest): every message reaches every subscriber on both nodes,
 * and the broker's CPU comes per process.
 */
import t from 'tap'
import { runBench } from '../../bench/cli.js'

const quietIo = { out: () => {}, err: () => {} }

t.test('cluster: publishers on node A, subscribers on A and B, and on two workers; nothing lost, CPU per process', { timeout: 120_000 }, async (t) => {
  const o = await runBench(['cluster', '--targets', 'vigil-cluster,vigil-workers2', '--reps', '1', '--publishers', '2', '--subscribers', '4',
    '--qos', '1', '--rate', '400', '--duration', '1', '--max-messages', '400', '--quiet'], quietIo)
  t.same(o.errors, [])
  t.equal(o.runs.length, 2)
  for (const run of o.runs) {
    const m = run.metrics
    t.ok(m.sent! > 0, `${run.target}: published (${m.sent})`)
    t.equal(m.received, m.sent! * 4, `${run.target}: every subscriber got every QoS 1 message`)
    t.equal(m.lossPct, 0)
    t.ok(m.p99! >= m.p50!, `${run.target}: latency percentiles measured`)
    t.ok(m.brokerCpuPct! > 0 && Number.isFinite(m.cpuUsPerMsg), `${run.target}: broker CPU measured (${m.brokerCpuPct?.toFixed(0)}% of a core)`)
    const perProcess = run.details!.perProcess as Array<{ name: string, cpuPct: number | null }>
    t.ok(perProcess.some((p) => p.name === 'redis'), `${run.target}: Redis counted`)
    t.ok(perProcess.every((p) => p.cpuPct !== null), `${run.target}: CPU of every process (${perProcess.map((p) => p.name).join(', ')})`)
  }
  const two = o.runs.find((r) => r.target === 'vigil-cluster')!
  t.same((two.details!.perProcess as Array<{ name: string }>).map((p) => p.name), ['node A', 'node B', 'redis'])
  t.same(two.details!.deliveredPerNode, [two.metrics.sent! * 2, two.metrics.sent! * 2], 'half the deliveries on each node')
  const workers = o.runs.find((r) => r.target === 'vigil-workers2')!
  t.same((workers.details!.perProcess as Array<{ name: string }>).map((p) => p.name), ['primary', 'worker 1', 'worker 2', 'redis'])
})

t.test('cluster refuses an unknown option', async (t) => {
  await t.rejects(runBench(['cluster', '--targets', 'vigil-cluster', '--clients', '1'], quietIo), /unknown option --clients for cluster/)
})
