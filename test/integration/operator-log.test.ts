/**
 * What an operator sees at `info` (issue 13): connects, disconnects with their
 * reason, takeovers, refused CONNECTs, refused publishes and protocol errors,
 * each with clientId, username and remote address; a flood of malformed
 * connections writes a bounded number of lines and a summary with the count.
 */
import { connect as netConnect } from 'node:net'
import { Writable } from 'node:stream'
import t from 'tap'
import { createLogger } from '../../broker/logger.js'
import type { VigilConfigInput } from '../../config/schema.js'
import { startBroker } from '../helpers/broker.js'
import { connectClient, waitFor } from '../helpers/clients.js'
import { connect, publish, RawSession } from '../support/raw-mqtt.js'

interface Line { level: number, msg: string, event?: string, [key: string]: unknown }

async function loggedBroker (t: Parameters<typeof startBroker>[0], override: VigilConfigInput = {}) {
  const lines: Line[] = []
  const sink = new Writable({
    write (chunk: Buffer, _enc, done) {
      for (const text of chunk.toString().split('\n')) if (text !== '') lines.push(JSON.parse(text) as Line)
      done()
    }
  })
  const logger = createLogger('info', sink)
  const broker = await startBroker(t, override, { logger })
  return { broker, lines, events: (event: string) => lines.filter((l) => l.event === event) }
}

t.test('connect, disconnect, takeover and refusals are logged at info with who and why', async (t) => {
  const { broker, events } = await loggedBroker(t)
  const device = await connectClient(t, broker.url, { clientId: 'log-dev', username: 'alice', password: Buffer.from('pw'), keepalive: 42 })
  const connected = await waitFor(() => events('connect').find((l) => l.clientId === 'log-dev'), 3000, 'the connect line')
  t.match(connected, { level: 30, clientId: 'log-dev', username: 'alice', address: '127.0.0.1', keepalive: 42, clean: true })
  t.notMatch(JSON.stringify(connected), /pw/, 'no password in the line')

  await connectClient(t, broker.url, { clientId: 'log-dev', username: 'alice', password: Buffer.from('pw') })
  const takeover = await waitFor(() => events('takeover').find((l) => l.clientId === 'log-dev'), 3000, 'the takeover line')
  t.match(takeover, { level: 30, username: 'alice', address: '127.0.0.1', reason: 'takeover' })
  void device

  const leaver = await connectClient(t, broker.url, { clientId: 'log-leaver' })
  await leaver.endAsync()
  t.match(await waitFor(() => events('disconnect').find((l) => l.clientId === 'log-leaver'), 3000, 'the disconnect line'),
    { level: 30, reason: 'graceful', address: '127.0.0.1' })

  // Refused by the strict checks (before Aedes) and by a plugin (through Aedes' CONNACK).
  const empty = await RawSession.open(t, broker.ports.mqtt)
  empty.send(connect({ clientId: '', clean: false, username: 'bob', keepalive: 7 }))
  t.match(await waitFor(() => events('connect_refused').find((l) => l.username === 'bob'), 3000, 'the refusal line'),
    { level: 30, returnCode: 2, clientId: '', address: '127.0.0.1', keepalive: 7, clean: false, reason: /MQTT-3\.1\.3-8/ })
  const slash = await RawSession.open(t, broker.ports.mqtt)
  slash.send(connect({ clientId: 'a/b' }))
  t.match(await waitFor(() => events('connect_refused').find((l) => l.clientId === 'a/b'), 3000, 'the plugin refusal line'),
    { level: 30, returnCode: 2, address: '127.0.0.1', reason: /client id/ })

  // A publish under $liveness/ is refused and logged; the connection ends with protocol_error.
  const intruder = await RawSession.open(t, broker.ports.mqtt)
  intruder.send(connect({ clientId: 'log-intruder', username: 'eve' }))
  await intruder.next('connack')
  intruder.send(publish('$liveness/someone', '{"state":"online"}'))
  t.match(await waitFor(() => events('publish_refused').find((l) => l.clientId === 'log-intruder'), 3000, 'the refused publish'),
    { level: 30, username: 'eve', address: '127.0.0.1', reason: /\$liveness\/someone/ })
  t.match(await waitFor(() => events('disconnect').find((l) => l.clientId === 'log-intruder'), 3000, 'its disconnect'),
    { reason: 'protocol_error' })

  // A malformed packet after CONNECT: the disconnect line says protocol_error and why.
  const bad = await RawSession.open(t, broker.ports.mqtt)
  bad.send(connect({ clientId: 'log-bad' }))
  await bad.next('connack')
  bad.send(publish(Buffer.from([0x61, 0x00]), 'x'))
  t.match(await waitFor(() => events('disconnect').find((l) => l.clientId === 'log-bad'), 3000, 'the protocol error'),
    { reason: 'protocol_error', err: /U\+0000/ })
})

/** Open `count` connections that each send a malformed CONNECT, `parallel` at a time. */
async function flood (port: number, count: number, parallel: number): Promise<void> {
  let next = 0
  const garbage = Buffer.from([0x10, 0x06, 0x00, 0x04, 0x4e, 0x4f, 0x50, 0x45]) // protocol name "NOPE"
  const one = (): Promise<void> => new Promise((resolve) => {
    const socket = netConnect(port, '127.0.0.1', () => socket.write(garbage))
    socket.on('error', () => {})
    socket.on('close', () => resolve())
  })
  await Promise.all(Array.from({ length: parallel }, async () => {
    while (next < count) {
      next++
      await one()
    }
  }))
}

t.test('25,000 malformed connections write 5 lines and one summary with the count suppressed', async (t) => {
  const { broker, lines, events } = await loggedBroker(t, { log: { rateLimit: { lines: 5, per: '10m' } } })
  const count = 25_000
  await flood(broker.ports.mqtt, count, 100)
  await waitFor(() => events('protocol_error').length === 5, 3000, 'the first five lines')
  const before = lines.length
  await broker.close()
  const summary = lines.slice(before).find((l) => l.suppressed !== undefined)
  t.match(summary, { level: 30, event: 'protocol_error', suppressed: count - 5 }, 'the summary counts what was held back')
  t.equal(events('protocol_error').filter((l) => l.suppressed === undefined).length, 5, 'five protocol error lines in all')
  t.ok(lines.length < 30, `${lines.length} lines for ${count} malformed connections`)
  t.match(events('protocol_error')[0], { address: '127.0.0.1', reason: /protocolId/i })
})
