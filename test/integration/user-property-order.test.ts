/**
 * [MQTT-3.3.2-18] User Properties reach a subscriber in the order the
 * publisher sent them, a repeated name included ([a=2, c=3, a=1], the
 * conformance case user_properties_repeated_name_order), over real sockets:
 * live, retained, queued for an offline persistent session, and on a will
 * the broker stamps (its own vigil-reason / vigil-ts after the device's pairs,
 * the will held by its Will Delay Interval). Memory mode on one broker; Redis
 * mode on two nodes of one real redis-server, so every message crosses
 * Redis' encoding (between nodes, the retained index, the offline queue, the
 * delay store, the will kept for node-loss recovery). The order is read from
 * the bytes (test/support/raw-mqtt5.ts) and by Debian's mosquitto_sub (%P);
 * mqtt.js publishes and subscribes too.
 */
import { Redis } from 'ioredis'
import t from 'tap'
import type { IPublishPacket } from 'mqtt'
import { startBroker, type TestBroker } from '../helpers/broker.js'
import { connectClient, subscribe, waitFor } from '../helpers/clients.js'
import { mosquittoAvailable, mosquittoSubV5 } from '../helpers/mosquitto.js'
import { redisAvailable, startRedis } from '../helpers/redis.js'
import { rawConnect5, type ReadPublish } from '../support/raw-mqtt5.js'
import { retainedSync } from '../support/retained.js'
import type { VigilConfigInput } from '../../config/schema.js'
import { userPropertyPairs, willsInRedis, type UserProperties, type WillPacket } from '../../broker/aedes/index.js'

const v5 = { protocolVersion: 5 as const }
const PAIRS = ['a', '2', 'c', '3', 'a', '1']
/** As mqtt-packet writes them in order: one object per pair. */
const AS_SENT = [{ a: '2' }, { c: '3' }, { a: '1' }]

for (const mode of ['memory', 'redis'] as const) {
  t.test(`[${mode}] [a=2, c=3, a=1] arrives in that order: live, retained, queued and on a stamped will`, { timeout: 120_000, skip: mode === 'redis' && !redisAvailable() ? 'no redis-server' : false }, async (t) => {
    const config: VigilConfigInput = { wills: { tsUnit: 'ms' } }
    const redisUrl = mode === 'redis' ? (await startRedis(t)).url : null
    if (redisUrl !== null) config.persistence = { redis: redisUrl }
    const pubNode = await startBroker(t, config)
    // Redis mode: subscribers on a second node, so each message crosses Redis.
    const subNode: TestBroker = mode === 'redis' ? await startBroker(t, config) : pubNode

    // A persistent session subscribes (on the publisher's node) and goes offline: its queue is kept by the persistence.
    const queued = await rawConnect5(t, pubNode.ports.mqtt, `uprops-queued-${mode}`, { clean: false, sessionExpiryInterval: 300 })
    await queued.subscribe('devices/+/props', 1)
    queued.send({ cmd: 'disconnect', reasonCode: 0 })
    await waitFor(() => queued.closed, 10_000, 'the persistent session offline')

    const live = await rawConnect5(t, subNode.ports.mqtt, `uprops-live-${mode}`)
    await live.subscribe('devices/#', 1)
    const mqttjs = await connectClient(t, subNode.url, { ...v5, clientId: `uprops-mqttjs-${mode}` })
    const got: IPublishPacket[] = []
    mqttjs.on('message', (_topic, _payload, packet) => got.push(packet))
    await subscribe(mqttjs, 'devices/+/props', 1)
    const probe = await connectClient(t, pubNode.url, { clientId: `uprops-probe-${mode}` })
    // Subscribed (and, in Redis mode, routed from the publisher's node) once a probe comes back through it.
    const mosq = mosquittoAvailable()
      ? await mosquittoSubV5(t, subNode.ports.mqtt, `uprops-mosq-${mode}`, '%t|%P', async () => await probe.publishAsync('devices/probe', 'p', { qos: 1 }))
      : null

    const publisher = await connectClient(t, pubNode.url, { ...v5, clientId: `uprops-pub-${mode}` })
    const topic = `devices/uprops-pub-${mode}/props`
    await publisher.publishAsync(topic, 'm1', { qos: 1, retain: true, properties: { userProperties: AS_SENT as never } })

    const one = (list: ReadPublish[], retain: boolean): ReadPublish | undefined => list.find((p) => p.topic === topic && p.retain === retain)
    const first = await waitFor(() => one(live.publishes(), false), 10_000, 'the live message (raw subscriber)')
    t.same(first.userProperties, PAIRS, 'live: in the order sent')
    const viaMqttjs = await waitFor(() => got.find((p) => p.topic === topic), 10_000, 'the live message (mqtt.js)')
    t.same(viaMqttjs.properties?.userProperties, { a: ['2', '1'], c: '3' }, 'mqtt.js: every value, a repeated name as an array')
    if (mosq !== null) {
      const line = await waitFor(() => mosq.output().split('\n').find((l) => l.startsWith(`${topic}|`)), 10_000, 'the live message (mosquitto_sub)')
      t.same([...line.slice(topic.length + 1).matchAll(/(\w+):(\w+)/g)].flatMap((m) => [m[1], m[2]]), PAIRS, `mosquitto_sub prints them in order: ${line}`)
    }

    // Redis mode: the subscriber's node has learnt the publisher's node's retained changes.
    if (subNode !== pubNode) await retainedSync(t, pubNode, subNode)
    const late = await rawConnect5(t, subNode.ports.mqtt, `uprops-late-${mode}`)
    await late.subscribe(topic, 1)
    const retained = await waitFor(() => one(late.publishes(), true), 10_000, 'the retained message')
    t.same(retained.userProperties, PAIRS, 'retained: in the order sent')

    const back = await rawConnect5(t, subNode.ports.mqtt, `uprops-queued-${mode}`, { clean: false, sessionExpiryInterval: 300 })
    const fromQueue = await waitFor(() => back.publishes().find((p) => p.topic === topic), 10_000, 'the queued message')
    t.same(fromQueue.userProperties, PAIRS, 'queued for an offline session: in the order sent')
    back.ackAll()

    // A will published at once, and one held by its Will Delay Interval (Redis mode: in the Redis delay store); both stamped.
    for (const delay of [0, 1]) {
      const id = `uprops-dev${delay}-${mode}`
      const willTopic = `devices/${id}/status`
      const device = await rawConnect5(t, pubNode.ports.mqtt, id, {
        sessionExpiryInterval: 30,
        will: { topic: willTopic, payload: Buffer.from('{"state":"offline"}'), qos: 1, retain: false, properties: { ...(delay > 0 ? { willDelayInterval: delay } : {}), userProperties: AS_SENT } }
      })
      if (redisUrl !== null && delay === 0) {
        // The will as stored for node-loss recovery (msgpack in Redis), read back the way recovery reads it.
        const conn = new Redis(redisUrl, { maxRetriesPerRequest: 3 })
        t.teardown(() => { conn.disconnect() })
        const stored = await waitFor(async () => (await willsInRedis<WillPacket>(conn, pubNode.nodeId)).find((w) => w.clientId === id), 10_000, 'the stored will')
        t.same(userPropertyPairs(stored.properties?.userProperties as UserProperties | undefined), PAIRS, 'the will stored in Redis keeps the order')
      }
      device.socket.destroy()
      const what = delay > 0 ? 'a delayed will' : 'a will'
      const will = await waitFor(() => live.publishes().find((p) => p.topic === willTopic), 15_000, `${what}, stamped`)
      t.same(will.userProperties.slice(0, PAIRS.length), PAIRS, `${what}: its own pairs, in their order`)
      t.same(will.userProperties.slice(PAIRS.length, PAIRS.length + 3), ['vigil-reason', 'connection_lost', 'vigil-ts'], `${what}: then the stamp`)
      t.match(will.userProperties[PAIRS.length + 3], /^\d+$/, `${what}: vigil-ts is a time`)
      t.equal(will.userProperties.length, PAIRS.length + 4, `${what}: nothing else`)
    }
  })
}
