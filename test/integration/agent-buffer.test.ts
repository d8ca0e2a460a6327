/**
 * Offline telemetry: the broker goes away while vigil-agent keeps producing
 * readings; after it reconnects the ring buffer drains at QoS 1, in order.
 * The outage is 4-5 s instead of 30 s: at --interval 0.5 that is 8-10
 * readings, and the ring behaves the same whether it holds 10 or 60 of them.
 * A second agent with a ring too small for the outage shows the overflow.
 */
import t from 'tap'
import { definePlugin } from '../../broker/plugin-types.js'
import { defaultPlugins } from '../../plugins/index.js'
import { startAgent } from '../helpers/agent.js'
import { startBroker, type TestBroker } from '../helpers/broker.js'
import { sleep, waitFor } from '../helpers/clients.js'
import { freePort } from '../support/ports.js'

interface Reading { seq: number, dropped: number, ts: number, at: number }

/** Records every telemetry PUBLISH of `id` as the broker receives it (no subscriber to race). */
function recorder (id: string, out: Reading[]) {
  const topic = `devices/${id}/telemetry`
  return definePlugin({
    name: 'telemetry-recorder',
    async setup () {
      return {
        published (packet, client) {
          if (client?.id !== id || packet.topic !== topic) return
          const r = JSON.parse(packet.payload.toString()) as Reading
          out.push({ seq: r.seq, dropped: r.dropped, ts: r.ts, at: Date.now() })
        }
      }
    }
  })
}

async function brokerOn (t: Parameters<typeof startBroker>[0], port: number, id: string, out: Reading[]): Promise<TestBroker> {
  const plugins = [...defaultPlugins.slice(0, -1), recorder(id, out), defaultPlugins[defaultPlugins.length - 1]!]
  return await startBroker(t, { mqtt: { port } }, { plugins })
}

const fast = ['--reconnect-min', '0.2', '--reconnect-max', '0.5']

// The two outages share nothing (own brokers, ports and agents) and mostly wait: side by side.
t.jobs = 2

t.test('broker stopped while the agent keeps producing telemetry -> after reconnect every buffered reading arrives once, in order', async (t) => {
  const port = await freePort()
  const readings: Reading[] = []
  const first = await brokerOn(t, port, 'gw-buffer', readings)
  startAgent(t, { id: 'gw-buffer', port, interval: 0.5, extra: fast })
  await waitFor(() => readings.length >= 3 ? true : null, 5000, 'readings before the outage')
  await first.close()
  const downAt = Date.now()
  const beforeOutage = readings.length
  await sleep(4000) // the outage itself: the broker stays down 4 s while the agent buffers
  const upAt = Date.now()
  await brokerOn(t, port, 'gw-buffer', readings)
  // Readings produced during the outage, then a few produced after it.
  await waitFor(() => readings.some((r) => r.ts * 1000 >= upAt + 1000) ? true : null, 8000, 'readings after the reconnect')
  const seqs = readings.map((r) => r.seq)
  const max = Math.max(...seqs)
  t.same(seqs, Array.from({ length: max }, (_, i) => i + 1), 'every reading exactly once, in order (no gap, no duplicate)')
  t.ok(readings.every((r) => r.dropped === 0), 'nothing dropped')
  const buffered = readings.slice(beforeOutage).filter((r) => r.ts * 1000 < upAt - 500 && r.ts * 1000 >= downAt)
  t.ok(buffered.length >= 5, `${buffered.length} readings were taken while the broker was down`)
  t.ok(buffered.every((r) => r.at >= upAt), 'and arrived after it came back')
})

t.test('a ring too small for the outage drops the oldest readings first and the counter says how many', async (t) => {
  const port = await freePort()
  const readings: Reading[] = []
  const first = await brokerOn(t, port, 'gw-overflow', readings)
  // 2 pages of 256 bytes: 3 readings each.
  startAgent(t, { id: 'gw-overflow', port, interval: 0.5, extra: [...fast, '--buffer-pages', '2', '--page-size', '256'] })
  await waitFor(() => readings.length >= 2 ? true : null, 5000, 'readings before the outage')
  await first.close()
  const lastBefore = readings[readings.length - 1]!.seq
  await sleep(5000) // the outage itself: longer than the small ring holds
  const upAt = Date.now()
  await brokerOn(t, port, 'gw-overflow', readings)
  // `dropped` counts what was dropped before a reading was taken: read it
  // from one taken after the reconnect.
  const after = await waitFor(() => readings.find((r) => r.ts * 1000 >= upAt + 1000), 8000, 'a reading taken after the reconnect')
  const seqs = readings.map((r) => r.seq)
  for (let i = 1; i < seqs.length; i++) t.ok(seqs[i]! > seqs[i - 1]!, `in order: ${seqs[i - 1]} then ${seqs[i]}`)
  t.equal(new Set(seqs).size, seqs.length, 'no duplicate')
  const missing = Array.from({ length: after.seq }, (_, i) => i + 1).filter((s) => !seqs.includes(s))
  const dropped = after.dropped
  t.ok(dropped > 0, `${dropped} dropped`)
  t.equal(missing.length, dropped, `the counter accounts for every missing reading (received ${seqs.join(',')}; dropped per reading ${readings.map((r) => r.dropped).join(',')})`)
  t.ok(missing.every((s) => s > lastBefore), 'only readings taken during the outage are missing')
  t.same(missing, Array.from({ length: missing.length }, (_, i) => missing[0]! + i), 'the oldest go first: one run, right after the last reading delivered')
  t.equal(missing[0], lastBefore + 1)
})
