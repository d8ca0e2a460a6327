import t from 'tap'
import mqttPacket from 'mqtt-packet'
import type { VigilPlugin } from '../../broker/plugin-types.js'
import { ConnackCode, ConnectRefused, VigilError } from '../../broker/errors.js'
import { createVigil } from '../../broker/server.js'
import { startBroker } from '../helpers/broker.js'
import { closed, collect, connectClient, rawSocket, subscribe, waitFor } from '../helpers/clients.js'
import { testConfig } from '../helpers/config.js'
import { metricValue } from '../support/prom-text.js'

async function connackCode (port: number, t: Parameters<typeof rawSocket>[0], clientId: string): Promise<number> {
  const socket = await rawSocket(t, port)
  const parser = mqttPacket.parser()
  const code = new Promise<number>((resolve) => parser.on('packet', (p) => resolve((p as { returnCode?: number }).returnCode ?? -1)))
  socket.on('data', (d) => parser.parse(d))
  socket.write(mqttPacket.generate({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clean: true, clientId, keepalive: 10 }))
  const result = await code
  await closed(socket).catch(() => {})
  return result
}

t.test('hooks compose in registration order; close runs in reverse', async (t) => {
  const calls: string[] = []
  const tagger = (name: string): VigilPlugin => ({
    name,
    async setup () {
      return {
        authorizePublish (_client, packet) {
          if (packet.topic.startsWith('order/')) calls.push(`${name}:publish`)
        },
        async close () { calls.push(`${name}:close`) }
      }
    }
  })
  const broker = await startBroker(t, {}, { plugins: [tagger('first'), tagger('second')] })
  const client = await connectClient(t, broker.url, { clientId: 'order-1' })
  await client.publishAsync('order/x', 'a', { qos: 1 })
  t.same(calls, ['first:publish', 'second:publish'])
  await broker.close()
  t.same(calls.slice(2), ['second:close', 'first:close'])
})

t.test('an async hook is awaited and may rewrite the packet', async (t) => {
  const plugin: VigilPlugin = {
    name: 'rewriter',
    async setup () {
      return {
        async authorizePublish (_client, packet) {
          await new Promise((resolve) => setTimeout(resolve, 5)) // an asynchronous hook, as a real one would be
          if (packet.topic === 'rewrite/me') packet.payload = Buffer.from('rewritten')
        }
      }
    }
  }
  const broker = await startBroker(t, {}, { plugins: [plugin] })
  const sub = await connectClient(t, broker.url, { clientId: 'rw-sub' })
  const received = collect(sub)
  await subscribe(sub, 'rewrite/#', 1)
  const pub = await connectClient(t, broker.url, { clientId: 'rw-pub' })
  await pub.publishAsync('rewrite/me', 'original', { qos: 1 })
  await waitFor(() => received[0], 3000, 'the rewritten message')
  t.equal(received[0]!.payload.toString(), 'rewritten')
})

t.test('authorizing hooks fail closed; a throw is counted', async (t) => {
  const plugin: VigilPlugin = {
    name: 'strict',
    async setup () {
      return {
        authenticate (client) {
          if (client.id === 'refused') throw new ConnectRefused(ConnackCode.NOT_AUTHORIZED, 'no')
          if (client.id === 'boom') throw new Error('bug in a hook')
        },
        authorizePublish (_client, packet) {
          if (packet.topic === 'forbidden') throw new VigilError('VIGIL_E_PUBLISH_REFUSED', 'forbidden topic')
          if (packet.topic === 'buggy') throw new Error('bug')
        },
        authorizeSubscribe (_client, sub) {
          if (sub.topic === 'secret/#') return null
          if (sub.topic === 'buggy/#') throw new Error('bug')
          return sub
        }
      }
    }
  }
  const broker = await startBroker(t, {}, { plugins: [plugin] })
  t.equal(await connackCode(broker.ports.mqtt, t, 'refused'), 5, 'ConnectRefused gives its CONNACK code')
  t.equal(await connackCode(broker.ports.mqtt, t, 'boom'), 3, 'an unexpected throw refuses with server unavailable')
  t.equal(await metricValue(broker.metrics, 'vigil_plugin_errors_total', { plugin: 'strict' }), 1, 'the unexpected throw is counted')

  const client = await connectClient(t, broker.url, { clientId: 'sub-1' })
  // mqtt.js rejects when any grant is 0x80; the SUBACK rides on the error.
  const suback = await client.subscribeAsync(['secret/#', 'buggy/#', 'open/#'], { qos: 1 })
    .then(() => null, (err: { packet?: { granted: number[] } }) => err.packet?.granted)
  t.same(suback, [128, 128, 1], 'refused and throwing subscriptions get SUBACK 0x80')
  t.equal(await metricValue(broker.metrics, 'vigil_plugin_errors_total', { plugin: 'strict' }), 2)

  const gone = new Promise<void>((resolve) => client.once('close', () => resolve()))
  client.publish('forbidden', 'x', { qos: 1 })
  await gone
  t.pass('a refused PUBLISH disconnects the client (MQTT 3.1.1 has no negative PUBACK)')
  t.equal(await metricValue(broker.metrics, 'vigil_plugin_errors_total', { plugin: 'strict' }), 2, 'a deliberate refusal is not an error')
  const other = await connectClient(t, broker.url, { clientId: 'sub-2' })
  t.ok(other.connected, 'the broker keeps serving')
})

t.test('observers that throw are isolated and counted', async (t) => {
  const plugin: VigilPlugin = {
    name: 'clumsy',
    async setup (ctx) {
      ctx.on('clientReady', () => { throw new Error('observer bug') })
      return { published () { throw new Error('published bug') } }
    }
  }
  const broker = await startBroker(t, {}, { plugins: [plugin] })
  const sub = await connectClient(t, broker.url, { clientId: 'obs-sub' })
  const received = collect(sub)
  await subscribe(sub, 'obs/#', 1)
  await sub.publishAsync('obs/x', 'still delivered', { qos: 1 })
  await waitFor(() => received[0], 3000, 'delivery despite the throwing observer')
  t.ok(await metricValue(broker.metrics, 'vigil_plugin_errors_total', { plugin: 'clumsy' }) >= 2, 'both throws were counted')
})

t.test('a plugin that needs a missing service stops start-up with a clear error', async (t) => {
  const vigil = createVigil(testConfig(), {
    plugins: [{ name: 'needy', needs: ['liveness'], async setup () { return {} } }]
  })
  await t.rejects(vigil.start(), { code: 'VIGIL_E_SERVICE', message: /needy needs service liveness/ })
})

t.test('a client cannot publish on $SYS/', async (t) => {
  const broker = await startBroker(t, {}, { plugins: [] })
  const client = await connectClient(t, broker.url, { clientId: 'sys-1' })
  const gone = new Promise<void>((resolve) => client.once('close', () => resolve()))
  client.publish('$SYS/fake/heartbeat', 'x', { qos: 1 })
  await gone
  t.pass('refused and disconnected')
})
