import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import t from 'tap'
import { startBroker } from '../helpers/broker.js'
import { collect, connectClient, subscribe, waitFor } from '../helpers/clients.js'
import { fuzzCase } from '../../bench/fuzz-packets.js'
import { runFuzz } from '../../bench/fuzz-run.js'

// Longer than tap's default 30 s per file: the flood runs 20 s, the fuzz about 30 s on a loaded machine.
t.setTimeout(120000)

setFlagsFromString('--expose-gc')
const gc = runInNewContext('gc') as () => void
const heap = async (): Promise<number> => {
  for (let i = 0; i < 3; i++) { gc(); await new Promise((resolve) => setImmediate(resolve)) }
  return process.memoryUsage().heapUsed
}

t.test('fuzz cases are reproducible from their seed', async (t) => {
  t.same(fuzzCase(7, 42), fuzzCase(7, 42))
  t.notSame(fuzzCase(7, 42), fuzzCase(7, 43))
})

t.test('3,000 seeded mutated CONNECT/PUBLISH/SUBSCRIBE packets: no crash, a bystander loses nothing, the heap comes back', async (t) => {
  const broker = await startBroker(t, { mqtt: { connectTimeout: '2s' } })
  const bystander = await connectClient(t, broker.url, { clientId: 'bystander' })
  const got = collect(bystander)
  await subscribe(bystander, 'bystander/#', 1)
  // Warm up every code path once so the baseline includes compiled code, not the attack.
  await runFuzz('127.0.0.1', broker.ports.mqtt, 1, 200)
  const baseline = await heap()
  let sent = 0
  let stop = false
  const chatter = (async () => {
    while (!stop) {
      await bystander.publishAsync(`bystander/${sent}`, String(sent), { qos: 1 })
      sent++
      await new Promise((resolve) => setTimeout(resolve, 10)) // pacing: the bystander chats every 10 ms
    }
  })()
  const tally = await runFuzz('127.0.0.1', broker.ports.mqtt, 14, 3000)
  stop = true
  await chatter
  t.comment(`tally ${JSON.stringify(tally)}`)
  t.equal(tally.cases, 3000)
  t.ok(tally.closedByBroker > 0, `${tally.closedByBroker} connections closed by the broker for bad input`)
  await bystander.publishAsync('bystander/barrier', 'end', { qos: 1 })
  await waitFor(() => got.find((m) => m.topic === 'bystander/barrier'), 5000, 'the barrier')
  t.equal(got.filter((m) => m.topic !== 'bystander/barrier').length, sent, `all ${sent} bystander messages arrived`)
  t.ok(bystander.connected, 'the bystander kept its connection')
  const late = await connectClient(t, broker.url, { clientId: 'after-the-attack' })
  t.ok(late.connected, 'the broker still accepts clients')
  // The broker's side of 3,000 closes can take several seconds on a loaded 2-core machine.
  await waitFor(() => broker.broker.connectedClients <= 2, 15_000, 'fuzz connections gone')
  const after = await heap()
  t.ok(after - baseline < 16 * 2 ** 20, `heap after a forced GC within 16 MiB of its baseline (${((after - baseline) / 2 ** 20).toFixed(1)} MiB)`)
})
