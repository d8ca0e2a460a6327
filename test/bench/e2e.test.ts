import t from 'tap'
import { mkdtempSync, readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { runBench } from '../../bench/cli.js'

const quietIo = { out: () => {}, err: () => {} }

t.test('a tiny fanin run against Vigil produces console, JSON lines and HTML', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'bench-test-'))
  t.teardown(() => {})
  let console = ''
  const o = await runBench(['fanin', '--targets', 'vigil-inproc', '--reps', '1', '--publishers', '2', '--rate', '500',
    '--duration', '1', '--json', join(dir, 'r.jsonl'), '--html', join(dir, 'r.html'), '--quiet'], { out: (s) => { console += s }, err: () => {} })
  t.same(o.errors, [])
  const m = o.runs[0]!.metrics
  t.ok(m.sent! > 100, `published ${m.sent}`)
  t.equal(m.received, m.sent, 'QoS 0 on loopback: nothing lost')
  t.ok(m.p50! > 0 && m.p99! >= m.p50!, 'latency percentiles are measured')
  t.match(console, /fanin .*median \[min\.\.max\]/)
  t.match(console, /vigil-inproc\s+received \(msg\/s\)/)
  const lines = readFileSync(join(dir, 'r.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { type: string })
  t.equal(lines.filter((l) => l.type === 'run').length, 1)
  t.ok(lines.some((l) => l.type === 'summary'))
  const html = readFileSync(join(dir, 'r.html'), 'utf8')
  t.match(html, /<svg/)
  t.match(html, /Latency histogram/)
})

t.test('a tiny fleet run against Vigil detects every fault with no false positive and no stale will', async (t) => {
  const o = await runBench(['fleet', '--targets', 'vigil-inproc', '--reps', '1', '--devices', '20', '--heartbeat', '0.5',
    '--keepalive', '1', '--warmup', '1.5', '--freeze', '0.1', '--drop', '0.1', '--vanish', '0.1', '--graceful', '0.1',
    '--storm', '0.1', '--storm-reconnects', '2', '--commands', '5', '--grace', '1', '--quiet'], quietIo)
  t.same(o.errors, [])
  const m = o.runs[0]!.metrics
  const per = o.runs[0]!.details!.perFault as Record<string, { detected: number, devices: number }>
  for (const f of ['freeze', 'drop', 'vanish', 'graceful']) t.equal(per[f]!.detected, 2, `${f}: both devices detected`)
  t.equal(m.missed, 0)
  t.equal(m.falsePositives, 0)
  t.equal(m.staleWills, 0)
  t.equal(m.unstampedWills, 0, 'Vigil stamps every will')
  t.equal(m.commandsAcked, 5)
  t.ok(m.willTsErrP99! < 1500, `will ts within the keepalive/close granularity (${m.willTsErrP99} ms)`)
})
