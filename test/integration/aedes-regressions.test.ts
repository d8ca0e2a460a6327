/**
 * Client mistakes Aedes 1.2 survives and aedes 2.0.0-beta.1 does not on its own
 * (broker/aedes/regressions.ts): raw packets, a real broker, then proof it still serves.
 */
import t from 'tap'
import mqttPacket from 'mqtt-packet'
import { startBroker } from '../helpers/broker.js'
import { collect, connectClient, rawSocket, subscribe, waitFor } from '../helpers/clients.js'

interface Teardown { teardown(fn: () => unknown): void }

async function raw (t: Teardown, port: number, clientId: string): Promise<{ socket: import('node:net').Socket, got: mqttPacket.Packet[] }> {
  const socket = await rawSocket(t, port)
  const got: mqttPacket.Packet[] = []
  const parser = mqttPacket.parser({ protocolVersion: 4 })
  parser.on('packet', (p) => got.push(p))
  socket.on('data', (d: Buffer) => parser.parse(d))
  socket.write(mqttPacket.generate({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clean: true, clientId, keepalive: 0 } as mqttPacket.IConnectPacket))
  await waitFor(() => got.find((p) => p.cmd === 'connack'), 5000, 'CONNACK')
  return { socket, got }
}

t.test('client ids that are names of Object.prototype connect, take over, and the broker keeps serving (GHSA-52qw-whmv-87c5)', async (t) => {
  const broker = await startBroker(t)
  for (const id of ['__proto__', 'constructor', 'toString', 'hasOwnProperty']) {
    const first = await raw(t, broker.ports.mqtt, id)
    t.equal((first.got[0] as mqttPacket.IConnackPacket).returnCode, 0, `${id}: accepted`)
    const second = await raw(t, broker.ports.mqtt, id)
    t.equal((second.got[0] as mqttPacket.IConnackPacket).returnCode, 0, `${id}: a second connection takes over`)
    await waitFor(() => first.socket.destroyed || first.socket.readableEnded, 5000, `${id}: the first connection closed`)
  }
  const probe = await connectClient(t, broker.url)
  const got = collect(probe)
  await subscribe(probe, 'alive', 1)
  await probe.publishAsync('alive', 'yes', { qos: 1 })
  await waitFor(() => got.length > 0, 5000, 'the broker still routes')
  t.equal(got[0]!.payload.toString(), 'yes')
})

t.test('PUBREL sent three times for one QoS 2 PUBLISH: three PUBCOMPs, one delivery, no unhandled rejection', async (t) => {
  const broker = await startBroker(t)
  const watcher = await connectClient(t, broker.url)
  const got = collect(watcher)
  await subscribe(watcher, 'q2/#', 2)
  const dev = await raw(t, broker.ports.mqtt, 'dup-rel')
  dev.socket.write(mqttPacket.generate({ cmd: 'publish', topic: 'q2/x', payload: Buffer.from('once'), qos: 2, messageId: 7, retain: false, dup: false }))
  await waitFor(() => dev.got.find((p) => p.cmd === 'pubrec'), 5000, 'PUBREC')
  const rel = mqttPacket.generate({ cmd: 'pubrel', messageId: 7 })
  dev.socket.write(Buffer.concat([rel, rel, rel]))
  await waitFor(() => dev.got.filter((p) => p.cmd === 'pubcomp').length === 3, 5000, 'three PUBCOMPs')
  // Barrier: a later message through the same path.
  dev.socket.write(mqttPacket.generate({ cmd: 'publish', topic: 'q2/barrier', payload: Buffer.from('b'), qos: 0, retain: false, dup: false }))
  await waitFor(() => got.find((m) => m.topic === 'q2/barrier'), 5000, 'the barrier')
  t.same(got.map((m) => m.payload.toString()), ['once', 'b'], 'delivered once')
  t.equal(await broker.metrics.getSingleMetricAsString('vigil_plugin_errors_total').then((text) => /plugin="core"} [1-9]/.test(text)), false, 'no error counted')
})

t.test('a clean session does not inherit the QoS 2 packets its previous session left unreleased [MQTT-3.1.2-6]', async (t) => {
  const broker = await startBroker(t)
  const watcher = await connectClient(t, broker.url)
  const got = collect(watcher)
  await subscribe(watcher, 'reuse/#', 2)
  const first = await raw(t, broker.ports.mqtt, 'reuse-1')
  first.socket.write(mqttPacket.generate({ cmd: 'publish', topic: 'reuse/a', payload: Buffer.from('first'), qos: 2, messageId: 9, retain: false, dup: false }))
  await waitFor(() => first.got.find((p) => p.cmd === 'pubrec'), 5000, 'PUBREC')
  first.socket.destroy() // no PUBREL
  await waitFor(() => got.length === 1, 5000, 'the first message')
  const second = await raw(t, broker.ports.mqtt, 'reuse-1')
  second.socket.write(mqttPacket.generate({ cmd: 'publish', topic: 'reuse/a', payload: Buffer.from('second'), qos: 2, messageId: 9, retain: false, dup: false }))
  await waitFor(() => second.got.find((p) => p.cmd === 'pubrec'), 5000, 'PUBREC')
  await waitFor(() => got.length === 2, 5000, 'the second message, same Packet Identifier, new session')
  t.same(got.map((m) => m.payload.toString()), ['first', 'second'])
})

t.test('at most 1000 inbound QoS 2 PUBLISH await PUBREL: the 1001st ends the connection, a DUP of one waiting does not', async (t) => {
  const broker = await startBroker(t)
  const dev = await raw(t, broker.ports.mqtt, 'q2-window')
  const publish = (id: number, dup = false): Buffer => mqttPacket.generate({ cmd: 'publish', topic: 'w/x', payload: Buffer.from('z'), qos: 2, messageId: id, retain: false, dup })
  const batch: Buffer[] = []
  for (let id = 1; id <= 1000; id++) batch.push(publish(id))
  batch.push(publish(500, true))
  dev.socket.write(Buffer.concat(batch))
  await waitFor(() => dev.got.filter((p) => p.cmd === 'pubrec').length === 1001, 20000, '1001 PUBREC (the DUP answered again)')
  t.notOk(dev.socket.destroyed, 'still connected at 1000 waiting')
  const closedNow = new Promise<void>((resolve) => dev.socket.once('close', () => resolve()))
  dev.socket.write(publish(1001))
  await closedNow
  t.pass('the 1001st closed the connection')
})
