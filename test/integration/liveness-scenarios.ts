/**
 * The liveness integration scenarios (issue 3), run in memory mode
 * (liveness.test.ts) and Redis mode (liveness-redis.test.ts) with real brokers,
 * real mqtt.js clients and raw sockets.
 */
import type { Client } from 'aedes'
import type { VigilConfigInput } from '../../config/schema.js'
import { definePlugin } from '../../broker/plugin-types.js'
import { liveClient } from '../../broker/aedes/index.js'
import { livenessPlugin } from '../../plugins/liveness/index.js'
import type { ClientStatus, ConnectionEnd } from '../../plugins/liveness/service.js'
import { startBroker, type TestBroker } from '../helpers/broker.js'
import { closed, collect, connectClient, nextPacket, sleep, subscribe, waitFor, type Received } from '../helpers/clients.js'
import { deepMerge } from '../helpers/config.js'
import { startRedis } from '../helpers/redis.js'
import { rawConnect } from '../support/raw-mqtt.js'
import { retainedBarrier } from '../support/retained.js'
import { passBarrier } from '../support/wait.js'

type Tap = typeof import('tap').default
import type { Teardown } from '../support/teardown.js'
type T = Teardown
export type Mode = 'memory' | 'redis'

/** Records what `liveness.endOf` says while Aedes publishes a client's will (before clientDisconnect). */
export function willProbe (ends: Map<string, ConnectionEnd>) {
  let liveness: { endOf(client: Client): ConnectionEnd } | undefined
  return definePlugin({
    name: 'will-probe',
    needs: ['liveness'],
    async setup (ctx) {
      liveness = ctx.need('liveness')
      return {
        authorizePublish (client, packet) {
          if (client !== null && packet.topic.startsWith('wills/')) ends.set(client.id, liveness!.endOf(client))
        }
      }
    }
  })
}

export interface Fleet {
  broker: TestBroker
  ends: Map<string, ConnectionEnd>
  redisUrl: string | null
}

export async function startFleet (t: T, mode: Mode, override: VigilConfigInput = {}, redisUrl?: string): Promise<Fleet> {
  let url: string | null = redisUrl ?? null
  if (mode === 'redis' && url === null) url = (await startRedis(t)).url
  const ends = new Map<string, ConnectionEnd>()
  const config = deepMerge<VigilConfigInput>(url !== null ? { persistence: { redis: url } } : {}, override)
  const broker = await startBroker(t, config, { plugins: [livenessPlugin, willProbe(ends)], heartbeatInterval: 500 })
  return { broker, ends, redisUrl: url }
}

let observers = 0
/** A `$liveness/+` subscriber that keeps every status it receives. */
export async function observe (t: T, url: string) {
  const client = await connectClient(t, url, { clientId: `observer-${process.pid}-${++observers}` })
  const received = collect(client)
  await subscribe(client, '$liveness/+', 1)
  const all = (): ClientStatus[] => received.filter((m) => m.topic.startsWith('$liveness/') && m.payload.length > 0)
    .map((m) => JSON.parse(m.payload.toString()) as ClientStatus)
  const statusOf = async (clientId: string, predicate: (s: ClientStatus) => boolean, ms = 5000, what = 'a status'): Promise<ClientStatus> =>
    await waitFor(() => all().find((s) => s.clientId === clientId && predicate(s)), ms, `${clientId}: ${what}`)
  return {
    client,
    received,
    all,
    of: (clientId: string) => all().filter((s) => s.clientId === clientId),
    waitFor: statusOf,
    /**
     * A barrier through the status path: a new device connects (to this
     * observer's node, or `through`) and this observer waits for its online
     * status. Every status that node published before it has arrived by then.
     */
    async barrier (through = url): Promise<void> {
      const id = `barrier-${process.pid}-${++barriers}`
      await connectClient(t, through, { clientId: id, will: willOf(id) })
      await statusOf(id, (s) => s.state === 'online', 10_000, 'the barrier status')
    }
  }
}
let barriers = 0

/** Resolves when `node` next receives the Aedes heartbeat of the broker with id `aedesId` (through the emitter, as liveness does). */
export function heartbeatHeard (node: TestBroker, aedesId: string, timeoutMs = 10_000): Promise<void> {
  const topic = `$SYS/${aedesId}/heartbeat`
  return new Promise((resolve, reject) => {
    const deliver = (_packet: unknown, cb: () => void): void => {
      cb()
      clearTimeout(timer)
      node.broker.unsubscribe(topic, deliver, () => resolve())
    }
    const timer = setTimeout(() => { node.broker.unsubscribe(topic, deliver, () => {}); reject(new Error(`no heartbeat of ${aedesId} within ${timeoutMs} ms`)) }, timeoutMs)
    node.broker.subscribe(topic, deliver, () => {})
  })
}

const willOf = (id: string) => ({ topic: `wills/${id}`, payload: Buffer.from('{"state":"offline","ts":0}'), qos: 1 as const, retain: false })

/** `protocolVersion` 5: the devices connect with MQTT 5 (observers stay 3.1.1); the same behaviour is expected. */
export function livenessScenarios (tap: Tap, mode: Mode, protocolVersion: 4 | 5 = 4): void {
  const dev = { protocolVersion }
  const tag = protocolVersion === 5 ? `${mode}, MQTT 5` : mode
  tap.test(`[${tag}] a client that keeps pinging but stops publishing goes silent within silentAfter + 1 s, and online on its next publish`, async (t) => {
    const { broker } = await startFleet(t, mode, { liveness: { silentAfter: 1 } })
    const obs = await observe(t, broker.url)
    // A will makes it a device from its CONNECT (without one it would be an observer until it publishes).
    const device = await connectClient(t, broker.url, { ...dev, clientId: 'frozen-1', keepalive: 1, will: willOf('frozen-1') })
    const online = await obs.waitFor('frozen-1', (s) => s.state === 'online')
    await device.publishAsync('devices/frozen-1/telemetry', '{"t":1}')
    const lastPublish = Date.now()
    const silent = await obs.waitFor('frozen-1', (s) => s.state === 'silent', 4000, 'silent')
    const noticed = Date.now() - lastPublish
    t.ok(noticed <= 1000 + 1000 + 500, `silent noticed ${noticed} ms after the last publish (bound 2 s + delivery)`)
    t.ok(silent.since - silent.lastHeartbeat! <= 2000, `since - lastHeartbeat = ${silent.since - silent.lastHeartbeat!} ms`)
    t.ok(silent.lastHeartbeat! >= lastPublish - 50, 'lastHeartbeat is the last publish')
    t.equal(silent.epoch, online.epoch)
    t.equal(silent.reason, null)
    t.equal(broker.services.need('liveness').get('frozen-1')?.state, 'silent', 'the service agrees')
    // A PINGREQ after the silent status: its PINGRESP means the broker handled it.
    await nextPacket(device, 'pingresp')
    t.equal(device.connected, true, 'still connected: PINGREQs keep the socket alive')
    const pingedSilent = broker.services.need('liveness').get('frozen-1')!
    t.equal(pingedSilent.state, 'silent', 'pings do not make it online')
    await device.publishAsync('devices/frozen-1/telemetry', '{"t":2}')
    const back = await obs.waitFor('frozen-1', (s) => s.state === 'online' && s.since > silent.since, 3000, 'online again')
    t.equal(back.epoch, online.epoch, 'same connection, same epoch')
    t.same(obs.of('frozen-1').map((s) => s.state), ['online', 'silent', 'online'])
  })

  tap.test(`[${tag}] a destroyed socket is offline with reason connection_lost`, async (t) => {
    const { broker, ends } = await startFleet(t, mode)
    const obs = await observe(t, broker.url)
    const device = await connectClient(t, broker.url, { ...dev, clientId: 'lost-1', will: willOf('lost-1') })
    await obs.waitFor('lost-1', (s) => s.state === 'online')
    device.stream.destroy()
    const offline = await obs.waitFor('lost-1', (s) => s.state === 'offline', 3000, 'offline')
    t.equal(offline.reason, 'connection_lost')
    t.equal(ends.get('lost-1')?.reason, 'connection_lost', 'endOf answered while the will was published')
    t.equal(ends.get('lost-1')?.epoch, offline.epoch)
  })

  tap.test(`[${tag}] a socket that stops sending is offline with reason keepalive_timeout, since its last packet`, async (t) => {
    const { broker } = await startFleet(t, mode)
    const obs = await observe(t, broker.url)
    const { socket } = await rawConnect(t, broker.ports.mqtt, { clientId: 'quiet-1', keepalive: 1 })
    const online = await obs.waitFor('quiet-1', (s) => s.state === 'online')
    const started = Date.now()
    const offline = await obs.waitFor('quiet-1', (s) => s.state === 'offline', 5000, 'offline')
    t.equal(offline.reason, 'keepalive_timeout')
    t.ok(Date.now() - started <= 1500 + 1000 + 500, 'within 1.5 x keepalive + 1 s')
    t.equal(offline.since, offline.lastPacket, 'time of death is the last packet')
    t.ok(offline.since <= online.since + 50)
    await closed(socket)
  })

  tap.test(`[${tag}] a client's will is not a heartbeat: a silent client that drops goes silent -> offline, never back online`, async (t) => {
    const { broker } = await startFleet(t, mode, { liveness: { silentAfter: 1 } })
    const obs = await observe(t, broker.url)
    // The will's topic matches the default heartbeatTopics ["#"].
    const device = await connectClient(t, broker.url, { ...dev, clientId: 'willful-1', keepalive: 1, will: willOf('willful-1') })
    await obs.waitFor('willful-1', (s) => s.state === 'silent', 4000, 'silent')
    const wills = await connectClient(t, broker.url, { ...dev, clientId: 'will-watch-1' })
    const willsReceived = collect(wills)
    await subscribe(wills, 'wills/willful-1', 1)
    device.stream.destroy()
    await waitFor(() => willsReceived[0], 3000, 'the will')
    await obs.waitFor('willful-1', (s) => s.state === 'offline', 3000, 'offline')
    await obs.barrier()
    t.same(obs.of('willful-1').map((s) => s.state), ['online', 'silent', 'offline'], 'the will did not count as a heartbeat')
  })

  tap.test(`[${tag}] a SUBSCRIBE counts as a packet: keepalive_timeout dates the death from it`, async (t) => {
    const { broker } = await startFleet(t, mode)
    const obs = await observe(t, broker.url)
    // keep-alive 2 s (expiry 3 s): room for the pause below on a loaded machine.
    const { socket } = await rawConnect(t, broker.ports.mqtt, { clientId: 'quiet-2', keepalive: 2 })
    const online = await obs.waitFor('quiet-2', (s) => s.state === 'online')
    // Not a wait for an event: time must pass between CONNECT and SUBSCRIBE for the dating to tell them apart.
    await sleep(600)
    const suback = new Promise<Buffer>((resolve) => socket.once('data', resolve))
    const subscribedAt = Date.now()
    // SUBSCRIBE, packet id 1, "quiet/x" at QoS 0 [MQTT-3.8.1-1]
    socket.write(Buffer.from([0x82, 12, 0, 1, 0, 7, ...Buffer.from('quiet/x'), 0]))
    t.equal((await suback)[0], 0x90, 'SUBACK')
    const offline = await obs.waitFor('quiet-2', (s) => s.state === 'offline', 8000, 'offline')
    t.equal(offline.reason, 'keepalive_timeout')
    t.equal(offline.since, offline.lastPacket, 'time of death is the last packet')
    t.ok(offline.since >= online.since + 500, `the last packet is the SUBSCRIBE (${offline.since - online.since} ms after CONNECT)`)
    t.ok(Math.abs(offline.since - subscribedAt) < 200, 'dated at the SUBSCRIBE')
    await closed(socket)
  })

  tap.test(`[${tag}] DISCONNECT is offline with reason graceful and no will`, async (t) => {
    const { broker, ends } = await startFleet(t, mode)
    const obs = await observe(t, broker.url)
    const device = await connectClient(t, broker.url, { ...dev, clientId: 'polite-1', will: willOf('polite-1') })
    await obs.waitFor('polite-1', (s) => s.state === 'online')
    await device.endAsync()
    const offline = await obs.waitFor('polite-1', (s) => s.state === 'offline', 3000, 'offline')
    t.equal(offline.reason, 'graceful')
    t.notOk(ends.has('polite-1'), 'no will for a DISCONNECT [MQTT-3.14.4-3]')
  })

  tap.test(`[${tag}] a malformed packet is offline with reason protocol_error`, async (t) => {
    const { broker, ends } = await startFleet(t, mode)
    const obs = await observe(t, broker.url)
    const device = await connectClient(t, broker.url, { ...dev, clientId: 'garbled-1', will: willOf('garbled-1') })
    await obs.waitFor('garbled-1', (s) => s.state === 'online')
    // SUBSCRIBE must carry header flags 0010 [MQTT-3.8.1-1]; 0x80 is malformed.
    device.stream.write(Buffer.from([0x80, 0x06, 0x00, 0x01, 0x00, 0x01, 0x61, 0x00]))
    const offline = await obs.waitFor('garbled-1', (s) => s.state === 'offline', 3000, 'offline')
    t.equal(offline.reason, 'protocol_error')
    t.equal(ends.get('garbled-1')?.reason, 'protocol_error')
  })

  tap.test(`[${tag}] an oversized packet is offline with reason protocol_error`, async (t) => {
    const { broker } = await startFleet(t, mode, { mqtt: { maxPacketSize: 1024 } })
    const obs = await observe(t, broker.url)
    const device = await connectClient(t, broker.url, { ...dev, clientId: 'big-1' })
    await obs.waitFor('big-1', (s) => s.state === 'online')
    device.publish('devices/big-1/blob', Buffer.alloc(4096))
    const offline = await obs.waitFor('big-1', (s) => s.state === 'offline', 3000, 'offline')
    t.equal(offline.reason, 'protocol_error')
  })

  tap.test(`[${tag}] the same clientId connecting again: online with epoch + 1, no offline for the old connection`, async (t) => {
    const { broker, ends } = await startFleet(t, mode)
    const obs = await observe(t, broker.url)
    const first = await connectClient(t, broker.url, { ...dev, clientId: 'twin-1', will: willOf('twin-1') })
    const old = await obs.waitFor('twin-1', (s) => s.state === 'online')
    const firstClosed = new Promise<void>((resolve) => first.once('close', () => resolve()))
    await connectClient(t, broker.url, { ...dev, clientId: 'twin-1' })
    await firstClosed
    const fresh = await obs.waitFor('twin-1', (s) => s.epoch === old.epoch + 1, 3000, 'the new epoch')
    t.equal(fresh.state, 'online')
    t.equal(ends.get('twin-1')?.reason, 'takeover', 'endOf says takeover while the old will passes')
    t.equal(ends.get('twin-1')?.epoch, old.epoch)
    await obs.barrier()
    t.same(obs.of('twin-1').map((s) => [s.state, s.epoch]), [['online', old.epoch], ['online', old.epoch + 1]],
      'no offline was ever published for the old connection')
    const late = await observe(t, broker.url)
    await waitFor(() => late.of('twin-1').length > 0, 3000, 'the retained status')
    t.same(late.of('twin-1').map((s) => [s.state, s.epoch]), [['online', old.epoch + 1]])
    t.equal(broker.services.need('liveness').currentEpoch('twin-1'), old.epoch + 1)
  })

  tap.test(`[${tag}] closing the broker publishes offline with reason server_shutdown`, async (t) => {
    const { broker, ends } = await startFleet(t, mode)
    const obs = await observe(t, broker.url)
    await connectClient(t, broker.url, { ...dev, clientId: 'shut-1', will: willOf('shut-1') })
    await obs.waitFor('shut-1', (s) => s.state === 'online')
    await broker.close()
    const offline = obs.of('shut-1').find((s) => s.state === 'offline')
    t.equal(offline?.reason, 'server_shutdown', 'published before the clients were closed')
    t.equal(ends.get('shut-1')?.reason, 'server_shutdown')
  })

  tap.test(`[${tag}] kickSilentAfter disconnects a silent client with reason silent_timeout`, async (t) => {
    const { broker, ends } = await startFleet(t, mode, {
      liveness: { silentAfter: 1, kickSilentAfter: 1, rules: [{ clients: 'observer-*', track: false }] }
    })
    const obs = await observe(t, broker.url)
    const device = await connectClient(t, broker.url, { ...dev, clientId: 'sleepy-1', keepalive: 1, will: willOf('sleepy-1') })
    const gone = new Promise<void>((resolve) => device.once('close', () => resolve()))
    await obs.waitFor('sleepy-1', (s) => s.state === 'silent', 4000, 'silent')
    const offline = await obs.waitFor('sleepy-1', (s) => s.state === 'offline', 4000, 'offline')
    t.equal(offline.reason, 'silent_timeout')
    t.equal(ends.get('sleepy-1')?.reason, 'silent_timeout')
    await gone
    t.pass('the client was disconnected')
    t.equal(obs.client.connected, true, 'an untracked client (rule track: false) is never kicked')
    t.equal(obs.all().filter((s) => s.clientId.startsWith('observer-')).length, 0, 'and has no status')
  })

  tap.test(`[${tag}] client ids that break the status topic are refused with CONNACK 2`, async (t) => {
    const { broker } = await startFleet(t, mode)
    for (const id of ['a/b', 'plus+', 'hash#']) {
      const err = await connectClient(t, broker.url, { ...dev, clientId: id }).then(() => null, (e: { code?: number }) => e)
      // MQTT 5: the same refusal as reason code 0x85, client identifier not valid [MQTT-3.2.2-6].
      t.equal(err?.code, protocolVersion === 5 ? 0x85 : 2, `${JSON.stringify(id)} -> identifier rejected`)
    }
    const ok = await connectClient(t, broker.url, { ...dev, clientId: 'fine-1' })
    t.equal(ok.connected, true, 'an ordinary id connects')
  })

  tap.test(`[${tag}] a client may not publish under $liveness/ (it is disconnected, nothing is stored)`, async (t) => {
    const { broker } = await startFleet(t, mode)
    const obs = await observe(t, broker.url)
    const spoofer = await connectClient(t, broker.url, { ...dev, clientId: 'spoofer-1' })
    await obs.waitFor('spoofer-1', (s) => s.state === 'online')
    const fake = JSON.stringify({ clientId: 'victim', state: 'online', since: 1, connectedAt: 1, lastHeartbeat: 1,
      lastPacket: 1, reason: null, epoch: 99, node: 'x' })
    const gone = new Promise<void>((resolve) => spoofer.once('close', () => resolve()))
    spoofer.publish('$liveness/victim', fake, { qos: 1, retain: true })
    await gone
    const offline = await obs.waitFor('spoofer-1', (s) => s.state === 'offline', 3000, 'offline')
    t.equal(offline.reason, 'protocol_error', 'a refused publish ends the connection')
    const late = await observe(t, broker.url)
    await retainedBarrier(broker, late.client, late.received)
    t.equal(late.of('victim').length, 0, 'the spoofed status was not stored')
    t.equal(broker.services.need('liveness').get('victim'), undefined)
  })

  tap.test(`[${tag}] the service: kick disconnects with reason kicked, forget clears the status, listeners see each transition`, async (t) => {
    const { broker, ends } = await startFleet(t, mode)
    const liveness = broker.services.need('liveness')
    const seen: Array<[string, string, string | undefined]> = []
    const stop = liveness.onTransition((status, previous) => {
      if (status.clientId === 'kickme-1') seen.push([status.state, status.reason ?? '', previous?.state])
    })
    t.teardown(stop)
    const obs = await observe(t, broker.url)
    const device = await connectClient(t, broker.url, { ...dev, clientId: 'kickme-1', will: willOf('kickme-1') })
    await obs.waitFor('kickme-1', (s) => s.state === 'online')
    const epoch = liveness.epochOf(liveClient(broker.broker, 'kickme-1')!)
    t.equal(epoch, liveness.currentEpoch('kickme-1'))
    t.equal(await liveness.kick('nobody-here', 'kicked'), false, 'a client not on this node')
    const gone = new Promise<void>((resolve) => device.once('close', () => resolve()))
    t.equal(await liveness.kick('kickme-1', 'kicked'), true)
    await gone
    const offline = await obs.waitFor('kickme-1', (s) => s.state === 'offline', 3000, 'offline')
    t.equal(offline.reason, 'kicked')
    t.equal(ends.get('kickme-1')?.reason, 'kicked')
    t.same(seen, [['online', '', undefined], ['offline', 'kicked', 'online']])
    t.same(liveness.counts().offline >= 1, true)
    await liveness.forget('kickme-1')
    t.equal(liveness.get('kickme-1'), undefined, 'gone from the fleet view')
    t.equal(liveness.currentEpoch('kickme-1'), epoch, 'the epoch is not reused')
    const late = await observe(t, broker.url)
    await retainedBarrier(broker, late.client, late.received)
    t.equal(late.of('kickme-1').length, 0, 'the retained status is cleared')
  })

  tap.test(`[${tag}] wills.delay holds the offline status: a reconnect within it cancels it, else it goes out stamped with the time of death`, async (t) => {
    const { broker } = await startFleet(t, mode, { wills: { delay: 1 } })
    const obs = await observe(t, broker.url)
    const flapper = await connectClient(t, broker.url, { ...dev, clientId: 'flap-1', will: willOf('flap-1') })
    const gone = await connectClient(t, broker.url, { ...dev, clientId: 'gone-1', will: willOf('gone-1') })
    const last = await connectClient(t, broker.url, { ...dev, clientId: 'last-1', will: willOf('last-1') })
    const first = await obs.waitFor('flap-1', (s) => s.state === 'online')
    await obs.waitFor('gone-1', (s) => s.state === 'online')
    await obs.waitFor('last-1', (s) => s.state === 'online')
    flapper.stream.destroy()
    const died = Date.now()
    gone.stream.destroy()
    // A status published right after the drops arrives while gone-1's offline is held.
    await obs.barrier()
    t.equal(obs.of('gone-1').filter((s) => s.state === 'offline').length, 0, 'held during the delay')
    await connectClient(t, broker.url, { ...dev, clientId: 'flap-1' })
    // Barrier: last-1 drops after flap-1 is back, so its delayed offline comes after any flap-1 had left pending.
    last.stream.destroy()
    const offline = await obs.waitFor('gone-1', (s) => s.state === 'offline', 5000, 'offline after the delay')
    t.ok(Date.now() - died >= 900, 'not before the delay ran out')
    t.ok(Math.abs(offline.since - died) < 200, `since is the time of death (${offline.since - died} ms off)`)
    t.equal(offline.reason, 'connection_lost')
    await obs.waitFor('last-1', (s) => s.state === 'offline', 5000, 'the barrier: last-1 offline after its delay')
    t.same(obs.of('flap-1').map((s) => [s.state, s.epoch]), [['online', first.epoch], ['online', first.epoch + 1]],
      'a reconnect within the delay: no offline at all')
  })

  tap.test(`[${tag}] wildcard subscribers never see $liveness, and a late $liveness/+ subscriber sees one correct status per client`, async (t) => {
    const { broker } = await startFleet(t, mode, { liveness: { silentAfter: 1 } })
    const obs = await observe(t, broker.url)
    const stay = await connectClient(t, broker.url, { ...dev, clientId: 'stay-1', keepalive: 1, will: willOf('stay-1') })
    const quiet = await connectClient(t, broker.url, { ...dev, clientId: 'quiet-2', keepalive: 1, will: willOf('quiet-2') })
    const leave = await connectClient(t, broker.url, { ...dev, clientId: 'leave-1', will: willOf('leave-1') })
    await obs.waitFor('leave-1', (s) => s.state === 'online')
    await leave.endAsync()
    const timer = setInterval(() => { stay.publish('devices/stay-1/heartbeat', '{"heartbeat_interval":0.3}') }, 200)
    t.teardown(() => clearInterval(timer))
    await obs.waitFor('quiet-2', (s) => s.state === 'silent', 4000, 'silent')
    await obs.waitFor('leave-1', (s) => s.state === 'offline', 3000, 'offline')

    const wild = await connectClient(t, broker.url, { ...dev, clientId: 'wild-1' })
    const wildReceived: Received[] = collect(wild)
    await subscribe(wild, ['#', '+/+'], 1)
    const late = await observe(t, broker.url)
    await waitFor(() => ['stay-1', 'quiet-2', 'leave-1'].every((id) => late.of(id).length > 0), 3000, 'retained statuses')
    clearInterval(timer)
    // Barriers: a plain message behind any $ message to the wildcard subscriber, and the end of late's retained statuses.
    await passBarrier({ send: () => stay.publishAsync('barrier/wild', 'b', { qos: 1 }), arrived: () => wildReceived.some((m) => m.topic === 'barrier/wild') })
    await retainedBarrier(broker, late.client, late.received)
    t.equal(wildReceived.filter((m) => m.topic.startsWith('$')).length, 0, 'no $ message to # or +/+ [MQTT-4.7.2-1]')
    const retained = late.received.filter((m) => m.retain)
    const byClient = new Map<string, number>()
    for (const m of retained) byClient.set(m.topic, (byClient.get(m.topic) ?? 0) + 1)
    t.ok([...byClient.values()].every((n) => n === 1), 'exactly one retained status per client')
    const view = broker.services.need('liveness')
    const statusOf = (id: string) => JSON.parse(retained.find((m) => m.topic === `$liveness/${id}`)!.payload.toString()) as ClientStatus
    t.equal(statusOf('stay-1').state, 'online')
    t.equal(statusOf('quiet-2').state, 'silent')
    t.equal(statusOf('leave-1').state, 'offline')
    t.equal(statusOf('leave-1').reason, 'graceful')
    for (const id of ['quiet-2', 'leave-1']) t.same(statusOf(id), view.get(id), `${id}: retained matches the fleet view`)
    t.equal(view.get('stay-1')?.state, 'online')
    t.equal(quiet.connected, true)
  })
}
