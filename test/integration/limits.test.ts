import t from 'tap'
import mqttPacket from 'mqtt-packet'
import { startBroker } from '../helpers/broker.js'
import { closed, collect, connectClient, rawSocket, subscribe, waitFor } from '../helpers/clients.js'

const connectBytes = (clientId: string): Buffer =>
  mqttPacket.generate({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clean: true, clientId, keepalive: 30 })

/** Read the first CONNACK return code from a raw socket. */
function connack (socket: import('node:net').Socket): Promise<number> {
  return new Promise((resolve, reject) => {
    const parser = mqttPacket.parser()
    parser.on('packet', (packet) => { if (packet.cmd === 'connack') resolve(packet.returnCode ?? 0) })
    socket.on('data', (data) => parser.parse(data))
    socket.once('close', () => reject(new Error('closed before CONNACK')))
  })
}

t.test('a socket that never sends CONNECT is closed after connectTimeout', async (t) => {
  const broker = await startBroker(t, { mqtt: { connectTimeout: '300ms' } })
  const socket = await rawSocket(t, broker.ports.mqtt)
  const started = Date.now()
  await closed(socket)
  const elapsed = Date.now() - started
  t.ok(elapsed >= 250 && elapsed < 3000, `closed after ${elapsed} ms`)
  const metrics = await broker.metrics.getSingleMetricAsString('vigil_connections_total')
  t.match(metrics, /vigil_connections_total\{result="connect_timeout"\} 1/)
})

t.test('an oversized packet closes only that client', async (t) => {
  const broker = await startBroker(t, { mqtt: { maxPacketSize: 1024 } })
  const bystander = await connectClient(t, broker.url, { clientId: 'bystander' })
  const received = collect(bystander)
  await subscribe(bystander, 'big/#', 0)
  const big = await connectClient(t, broker.url, { clientId: 'big-sender' })
  const bigClosed = new Promise<void>((resolve) => big.once('close', () => resolve()))
  big.publish('big/one', Buffer.alloc(4096, 1))
  await bigClosed
  t.pass('the sender of the oversized packet was disconnected')
  const small = await connectClient(t, broker.url, { clientId: 'small-sender' })
  await small.publishAsync('big/small', 'fits', { qos: 1 })
  await waitFor(() => received.find((m) => m.topic === 'big/small'), 3000, 'the small message')
  t.notOk(received.find((m) => m.topic === 'big/one'), 'the oversized message was never delivered')
  t.ok(bystander.connected, 'other clients stay connected')
})

t.test('the maxConnections + 1th client is refused with CONNACK 3 and counted', async (t) => {
  const broker = await startBroker(t, { mqtt: { maxConnections: 2 } })
  await connectClient(t, broker.url, { clientId: 'c1' })
  await connectClient(t, broker.url, { clientId: 'c2' })
  const socket = await rawSocket(t, broker.ports.mqtt)
  socket.write(connectBytes('c3'))
  t.equal(await connack(socket), 3, 'CONNACK server unavailable')
  await closed(socket)
  const metrics = await broker.metrics.getSingleMetricAsString('vigil_connections_total')
  t.match(metrics, /result="rejected_unavailable"\} 1/)
  t.match(metrics, /result="accepted"\} 2/)
  const again = await rawSocket(t, broker.ports.mqtt)
  again.write(connectBytes('c1'))
  t.equal(await connack(again), 0, 'a takeover of a connected id does not count as a new connection')
})

t.test('garbage bytes do not crash the broker; the next client still works', async (t) => {
  const broker = await startBroker(t)
  for (const garbage of [Buffer.from('GET / HTTP/1.1\r\n\r\n'), Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff]),
    Buffer.concat([connectBytes('g1'), Buffer.from([0x30, 0xff, 0xff, 0xff, 0xff, 0x7f])])]) {
    const socket = await rawSocket(t, broker.ports.mqtt)
    socket.write(garbage)
    await closed(socket)
  }
  const ok = await connectClient(t, broker.url, { clientId: 'after-garbage' })
  const received = collect(ok)
  await subscribe(ok, 'alive', 1)
  await ok.publishAsync('alive', 'yes', { qos: 1 })
  await waitFor(() => received[0], 3000, 'a message after the garbage')
  t.equal(received[0]!.payload.toString(), 'yes')
})
