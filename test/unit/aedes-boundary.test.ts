/**
 * What broker/aedes/ relies on, pinned for the installed Aedes, mqtt-packet,
 * mqemitter and aedes-persistence: each undocumented field, method and
 * behaviour the boundary (and the plugins through it) touches, on a real
 * Aedes instance from node_modules over real sockets, with no Vigil around
 * it. An upgrade that moves any of them fails here, by name, in one file.
 * When one fails: fix the accessor or patch in broker/aedes/ that the test
 * names, never the plugins. (Run against aedes 2.0.0-beta.1 for issue 20, only
 * the version check failed: every behaviour below held for MQTT 3.1.1 clients.)
 */
import { readFileSync } from 'node:fs'
import { Readable } from 'node:stream'
import { createServer as createHttpServer, type IncomingMessage } from 'node:http'
import { createServer, Socket, type AddressInfo, type Server } from 'node:net'
import { Aedes, type Client, type PublishPacket } from 'aedes'
import memoryPersistence from 'aedes-persistence'
import aedesPersistenceRedis from 'aedes-persistence-redis'
import { Redis } from 'ioredis'
import mqemitter from 'mqemitter'
import mqttPacket from 'mqtt-packet'
import t from 'tap'
import { WebSocketServer, createWebSocketStream } from 'ws'
import {
  boundEmitterDepth, clientSlot, connectWill, emitterOf, guardOfflineQueue, installOrderTolerantDedupe, installPacketSizeLimit, installPublishDrop,
  installStrictPackets, isClosed, isErrored, liveClient, liveClients, pendingWill, persistenceOf, publishAs,
  remoteAddress, sentDisconnect, subscriptionsOf, takePendingWill, transportOf, upgradeRequestOf, dropAfterAck,
  limitOfflineQueues, limitOfflineQueuesRedis, afterWillDeleted, type BrokerPersistence, type StoredWillKey, type WillPacket
} from '../../broker/aedes/index.js'
import { closed, collect, connectClient, rawSocket, subscribe, waitFor } from '../helpers/clients.js'
import { startRedis } from '../helpers/redis.js'

import type { Teardown } from '../support/teardown.js'
import { eventually } from '../support/wait.js'
type Done = (err?: Error | null) => void

const versionOf = (pkg: string): string =>
  (JSON.parse(readFileSync(new URL(`../../node_modules/${pkg}/package.json`, import.meta.url), 'utf8')) as { version: string }).version

const VERSIONS = {
  aedes: versionOf('aedes'),
  'mqtt-packet': versionOf('mqtt-packet'),
  mqemitter: versionOf('mqemitter'),
  'aedes-persistence': versionOf('aedes-persistence'),
  'aedes-persistence-redis': versionOf('aedes-persistence-redis')
}
t.comment(`pinned against ${Object.entries(VERSIONS).map(([k, v]) => `${k} ${v}`).join(', ')}`)

/** The majors broker/aedes/ was written for; a new major means re-reading every pin below. */
const WRITTEN_FOR: Record<keyof typeof VERSIONS, [major: number, minMinor: number]> = {
  // Branch mqtt5: every pin below re-checked on aedes 2.0.0-beta.1 (all hold).
  aedes: [2, 0],
  'mqtt-packet': [9, 0],
  mqemitter: [7, 0],
  'aedes-persistence': [11, 0],
  'aedes-persistence-redis': [12, 0]
}

t.test('the installed versions are the ones broker/aedes/ was written for', { timeout: 30_000 }, async (t) => {
  for (const [pkg, [major, minMinor]] of Object.entries(WRITTEN_FOR)) {
    const [maj, min] = VERSIONS[pkg as keyof typeof VERSIONS].split('.').map(Number) as [number, number]
    t.ok(maj === major && min >= minMinor,
      `${pkg} ${VERSIONS[pkg as keyof typeof VERSIONS]} is ^${major}.${minMinor}: a new major needs every pin in this file re-checked`)
  }
  t.equal((new Aedes() as unknown as { version: string }).version, VERSIONS.aedes, 'Aedes reports the version its package.json says')
})

// (the memory persistence's .d.ts types its CommonJS export as a namespace: see broker/persistence.ts)
const newMemoryPersistence = memoryPersistence as unknown as typeof memoryPersistence.default

interface Bare {
  broker: Aedes
  persistence: BrokerPersistence
  mq: ReturnType<typeof mqemitter>
  port: number
  url: string
  /** Every client's PUBLISH and will, as authorizePublish saw it. */
  authorized: Array<{ packet: PublishPacket, client: Client | null, wasPendingWill: boolean, closed: boolean }>
  /** Every packet the published hook saw. */
  published: Array<{ packet: PublishPacket, client: Client | null }>
  /** Clients as the authenticate hook saw them, with what their accessors said then. */
  authenticated: Array<{ client: Client, connectWill: WillPacket | null, pendingWill: WillPacket | null }>
}

/** A bare Aedes 1.2 on memory persistence and mqemitter, on a TCP port; `before` runs before listen(). */
async function bareBroker (t: Teardown, options: { id?: string, heartbeatInterval?: number, persistence?: unknown, before?(b: Aedes, mq: Bare['mq']): void } = {}): Promise<Bare> {
  const persistence = (options.persistence ?? newMemoryPersistence()) as BrokerPersistence
  const mq = mqemitter({ concurrency: 100, matchEmptyLevels: true })
  const broker = new Aedes({ id: options.id ?? 'pin', persistence, mq, heartbeatInterval: options.heartbeatInterval ?? 60_000 })
  const bare: Bare = { broker, persistence, mq, port: 0, url: '', authorized: [], published: [], authenticated: [] }
  broker.authenticate = (client, _u, _p, done) => {
    bare.authenticated.push({ client, connectWill: connectWill(client), pendingWill: pendingWill(client) })
    done(null, true)
  }
  broker.authorizePublish = (client, packet, done) => {
    bare.authorized.push({ packet, client, wasPendingWill: client !== null && packet === pendingWill(client), closed: client !== null && isClosed(client) })
    done(null)
  }
  broker.published = (packet, client, done) => {
    bare.published.push({ packet, client })
    done(null)
  }
  options.before?.(broker, mq)
  await broker.listen()
  const sockets = new Set<Socket>()
  const server: Server = createServer((socket) => {
    sockets.add(socket)
    socket.once('close', () => sockets.delete(socket))
    broker.handle(socket)
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  bare.port = (server.address() as AddressInfo).port
  bare.url = `mqtt://127.0.0.1:${bare.port}`
  t.teardown(async () => {
    await new Promise<void>((resolve) => broker.close(() => resolve()))
    for (const socket of sockets) socket.destroy()
    await new Promise<void>((resolve) => server.close(() => resolve()))
  })
  return bare
}

const connectBytes = (clientId: string, extra: Partial<mqttPacket.IConnectPacket> = {}): Buffer =>
  mqttPacket.generate({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clean: true, clientId, keepalive: 30, ...extra })

/** Resolves with the return code of the CONNACK that arrives on a raw socket (the client is then past CONNECT). */
function connackOf (socket: Socket): Promise<number> {
  return new Promise((resolve, reject) => {
    const parser = mqttPacket.parser()
    parser.on('packet', (packet) => { if (packet.cmd === 'connack') resolve(packet.returnCode ?? 0) })
    socket.on('data', (data) => parser.parse(data))
    socket.once('close', () => reject(new Error('closed before CONNACK')))
  })
}

const WILL = { topic: 'devices/d1/status', payload: Buffer.from('offline'), qos: 1 as const, retain: true }

t.test('client fields: the will, from CONNECT to the end of the connection', { timeout: 30_000 }, async (t) => {
  const b = await bareBroker(t)
  const watcher = await connectClient(t, b.url, { clientId: 'watcher' })
  await subscribe(watcher, 'devices/#', 1)
  const seen = collect(watcher)

  const device = await connectClient(t, b.url, { clientId: 'd1', will: WILL })
  const atAuth = b.authenticated.find((a) => a.client.id === 'd1')!
  t.equal(atAuth.connectWill?.topic, WILL.topic, 'connectWill (client._will) holds the CONNECT\'s will from the authenticate hook on')
  t.same(atAuth.connectWill?.payload, WILL.payload)
  t.equal(atAuth.pendingWill, null, 'pendingWill (client.will) is not set yet while authenticate runs')

  const client = liveClient(b.broker, 'd1')!
  t.ok(client !== undefined, 'liveClient (broker.clients[id]) finds the connected client')
  t.ok(liveClients(b.broker).includes(client), 'liveClients lists it')
  const will = pendingWill(client)!
  t.equal(will.topic, WILL.topic, 'pendingWill (client.will) is the CONNECT\'s will once connected')
  t.equal(will, connectWill(client), 'client.will and client._will are the same object')
  t.equal(will.brokerId, 'pin', 'putWill tagged the will object itself with brokerId')
  t.equal(will.clientId, 'd1', 'and with clientId')
  t.notOk(isClosed(client), 'closed is false while connected')
  t.notOk(sentDisconnect(client), '_disconnected is false before DISCONNECT')
  t.notOk(isErrored(client), 'errored is false')

  // The connection drops without DISCONNECT: Aedes publishes the will through
  // authorizePublish with the very object client.will held, the client already closed.
  ;(device as unknown as { stream: Socket }).stream.destroy()
  await waitFor(() => seen.find((m) => m.topic === WILL.topic), 5000, 'the will')
  const auth = b.authorized.find((a) => a.packet.topic === WILL.topic)!
  t.ok(auth.wasPendingWill, 'authorizePublish gets the will as the same object as client.will (packet identity)')
  t.ok(auth.closed, 'the client is closed when its will passes authorizePublish')
  t.equal(auth.client, client, 'and the will is published as that client')
  t.ok(b.published.some((p) => p.packet === auth.packet), 'the published hook gets the same will object')
  t.equal(pendingWill(client), null, 'client.will is null once the will is out')
  t.equal(connectWill(client), null, 'client._will too')
  t.equal(liveClient(b.broker, 'd1'), undefined, 'the closed client left broker.clients')
  const storedWills = async (): Promise<string[]> => {
    const ids: string[] = []
    for await (const w of b.persistence.streamWill({})) ids.push(w.clientId ?? '')
    return ids
  }
  await eventually(async () => !(await storedWills()).includes('d1'), 5000, 20)
  t.notOk((await storedWills()).includes('d1'), 'Aedes deleted the stored will after publishing it')
})

t.test('client fields: DISCONNECT voids the will; takePendingWill keeps Aedes from publishing it', { timeout: 30_000 }, async (t) => {
  const b = await bareBroker(t)
  let disconnected: { sent: boolean, closed: boolean } | null = null
  b.broker.on('clientDisconnect', (client) => { disconnected = { sent: sentDisconnect(client), closed: isClosed(client) } })
  const device = await connectClient(t, b.url, { clientId: 'd2', will: { ...WILL, topic: 'devices/d2/status' } })
  await device.endAsync()
  await waitFor(() => disconnected, 5000, 'clientDisconnect')
  t.same(disconnected, { sent: true, closed: true }, '_disconnected is true after DISCONNECT, closed by clientDisconnect')
  t.notOk(b.authorized.some((a) => a.packet.topic === 'devices/d2/status'), 'no will after DISCONNECT')

  const other = await connectClient(t, b.url, { clientId: 'd3', will: { ...WILL, topic: 'devices/d3/status' } })
  const client = liveClient(b.broker, 'd3')!
  t.equal(takePendingWill(client)?.topic, 'devices/d3/status', 'takePendingWill returns the will')
  t.equal(pendingWill(client), null, 'and leaves client.will null')
  ;(other as unknown as { stream: Socket }).stream.destroy()
  await waitFor(() => liveClient(b.broker, 'd3') === undefined, 5000, 'd3 gone')
  // Barrier: a message through the same broker after d3's end; its arrival bounds the will's.
  await new Promise<void>((resolve) => b.broker.publish({ cmd: 'publish', topic: 'barrier', payload: Buffer.from('x'), qos: 0, retain: false, dup: false }, () => resolve()))
  await waitFor(() => b.published.some((p) => p.packet.topic === 'barrier'), 5000, 'barrier')
  t.notOk(b.authorized.some((a) => a.packet.topic === 'devices/d3/status'), 'a taken will is never published by Aedes')
})

t.test('client fields: subscriptions, conn, errored, and what session replay uses', { timeout: 30_000 }, async (t) => {
  const b = await bareBroker(t)
  const device = await connectClient(t, b.url, { clientId: 'd4', clean: false })
  await subscribe(device, 'cmd/d4/#', 1)
  const client = liveClient(b.broker, 'd4')!
  t.ok('cmd/d4/#' in subscriptionsOf(client), 'client.subscriptions is keyed by filter')
  t.ok(transportOf(client) instanceof Socket, 'client.conn is the TCP socket')
  t.equal(upgradeRequestOf(client), null, 'client.req is null for TCP')
  t.equal(remoteAddress(client)?.replace('::ffff:', ''), '127.0.0.1', 'remoteAddress reads conn.remoteAddress')
  const c = client as unknown as { clean: boolean, connected: boolean, duplicates: unknown, deliverQoS: unknown, conn: { write: unknown, destroy: unknown } }
  t.equal(c.clean, false, 'client.clean is the CONNECT flag (session-replay.ts)')
  t.equal(c.connected, true, 'client.connected')
  t.equal(typeof c.duplicates, 'object', 'client.duplicates (the per-broker dedupe counters)')
  t.equal(typeof c.deliverQoS, 'function', 'client.deliverQoS')
  t.ok(typeof c.conn.write === 'function' && typeof c.conn.destroy === 'function', 'conn.write / conn.destroy (strict-packets.ts)')

  // A protocol error (PUBLISH with both QoS bits set) marks the client errored.
  let errored: boolean | null = null
  b.broker.on('clientError', (cl) => { if (cl.id === 'd5') errored = isErrored(cl) })
  const socket = await rawSocket(t, b.port)
  socket.write(connectBytes('d5'))
  await connackOf(socket)
  socket.write(Buffer.from([0x36, 0x05, 0x00, 0x01, 0x61, 0x00, 0x01]))
  await closed(socket)
  await waitFor(() => errored !== null, 5000, 'clientError')
  t.equal(errored, true, 'client.errored is true on clientError')
})

t.test('client fields over WebSocket: conn is the stream, req the upgrade request', { timeout: 30_000 }, async (t) => {
  const b = await bareBroker(t)
  const http = createHttpServer()
  const wss = new WebSocketServer({ server: http, path: '/mqtt' })
  const requests: IncomingMessage[] = []
  wss.on('connection', (ws, req) => {
    requests.push(req)
    b.broker.handle(createWebSocketStream(ws), req)
  })
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve))
  t.teardown(() => new Promise<void>((resolve) => { wss.close(); http.close(() => resolve()); http.closeAllConnections() }))
  await connectClient(t, `ws://127.0.0.1:${(http.address() as AddressInfo).port}/mqtt`, { clientId: 'w1' })
  const client = liveClient(b.broker, 'w1')!
  t.equal(upgradeRequestOf(client), requests[0], 'client.req is the upgrade request handle() was given')
  t.ok(upgradeRequestOf(client)?.socket.bytesRead !== undefined, 'whose socket has the byte counters (plugins/metrics)')
  t.notOk(transportOf(client) instanceof Socket, 'client.conn is the WebSocket stream, not a socket')
  t.equal(remoteAddress(client)?.replace('::ffff:', ''), '127.0.0.1', 'remoteAddress falls back to req.socket')
})

t.test('clientSlot: per-plugin state on a client, distinct per slot', { timeout: 30_000 }, async (t) => {
  const b = await bareBroker(t)
  await connectClient(t, b.url, { clientId: 's1' })
  const client = liveClient(b.broker, 's1')!
  const a = clientSlot<number>('a')
  const a2 = clientSlot<number>('a')
  t.notOk(a.has(client))
  a.set(client, 1)
  t.equal(a.get(client), 1)
  t.notOk(a2.has(client), 'two slots of the same name do not collide')
  a.set(client, undefined)
  t.ok(a.has(client), 'a slot set to undefined is still set (authenticatedUsername relies on it)')
})

t.test('broker fields: persistence and mq are the ones given; the three-argument publish skips authorizePublish', { timeout: 30_000 }, async (t) => {
  const b = await bareBroker(t)
  t.equal(persistenceOf(b.broker), b.persistence, 'broker.persistence is the given persistence (after listen())')
  t.equal(emitterOf(b.broker), b.mq, 'broker.mq is the given emitter')
  t.equal(typeof (b.broker as unknown as { closed: unknown }).closed, 'boolean', 'broker.closed (redis-gate, session-replay)')

  const watcher = await connectClient(t, b.url, { clientId: 'watcher' })
  await subscribe(watcher, 'as/#', 1)
  const seen = collect(watcher)
  await connectClient(t, b.url, { clientId: 'p1' })
  const client = liveClient(b.broker, 'p1')!
  const packet: PublishPacket = { cmd: 'publish', topic: 'as/p1', payload: Buffer.from('hi'), qos: 1, retain: false, dup: false }
  await publishAs(b.broker, packet, client)
  await waitFor(() => seen.find((m) => m.topic === 'as/p1'), 5000, 'the publishAs message')
  t.notOk(b.authorized.some((a) => a.packet === packet), 'publish(packet, client, done) does not pass authorizePublish')
  const pub = b.published.find((p) => p.packet === packet)
  t.ok(pub !== undefined, 'the published hook gets the very packet given to publish()')
  t.equal(pub?.client, client, 'with the client given')
  const own: PublishPacket = { cmd: 'publish', topic: 'as/broker', payload: Buffer.from('b'), qos: 0, retain: false, dup: false }
  await new Promise<void>((resolve) => b.broker.publish(own, () => resolve()))
  const ownPub = b.published.find((p) => p.packet === own)
  t.ok(ownPub !== undefined && ownPub.client === null, 'publish(packet, done): the published hook gets that packet, with client null')
})

t.test('packets: identity from authorizePublish to published, and brokerId on the way', { timeout: 30_000 }, async (t) => {
  const routed: Array<{ topic: string, brokerId?: string, brokerCounter?: number }> = []
  const b = await bareBroker(t, { before: (_broker, mq) => mq.on('id/#', (m, done) => { routed.push(m as typeof routed[number]); done() }) })
  const device = await connectClient(t, b.url, { clientId: 'i1' })
  await device.publishAsync('id/q0', 'a', { qos: 0 })
  await device.publishAsync('id/q1', 'b', { qos: 1 })
  await waitFor(() => b.published.filter((p) => p.packet.topic.startsWith('id/')).length === 2, 5000, 'both published')
  for (const topic of ['id/q0', 'id/q1']) {
    const auth = b.authorized.find((a) => a.packet.topic === topic)!
    t.equal((auth.packet as { brokerId?: string }).brokerId, undefined, `${topic}: a client's PUBLISH reaches authorizePublish without brokerId (redis-gate.ts fromClient)`)
    t.equal(b.published.find((p) => p.packet.topic === topic)?.packet, auth.packet, `${topic}: published gets the object authorizePublish got`)
  }
  await waitFor(() => routed.length === 2, 5000, 'routed')
  t.equal(routed[0]?.brokerId, 'pin', 'the routed copy carries this broker\'s id')
  t.ok(typeof routed[0]?.brokerCounter === 'number' && routed[0].brokerCounter > 0, 'and a broker counter')

  // A packet that already has a brokerId keeps it: a recovered will must lose it before it is published.
  await new Promise<void>((resolve) => b.broker.publish({ cmd: 'publish', topic: 'id/foreign', payload: Buffer.from('c'), qos: 0, retain: false, dup: false, brokerId: 'dead', brokerCounter: 7 } as PublishPacket, () => resolve()))
  await waitFor(() => routed.length === 3, 5000, 'routed foreign')
  t.equal(routed[2]?.brokerId, 'dead', 'a given brokerId is kept (why plugins/wills strips it)')
  t.equal(routed[2]?.brokerCounter, 7, 'and a given brokerCounter')
})

t.test('publish-drop: the packet authorizePublish marked is the one broker.publish gets', { timeout: 30_000 }, async (t) => {
  const b = await bareBroker(t, {
    before: (broker) => {
      installPublishDrop(broker)
      const authorize = broker.authorizePublish
      broker.authorizePublish = (client, packet, done) => {
        if (packet.topic === 'drop/me') dropAfterAck(packet)
        authorize(client, packet, done)
      }
    }
  })
  const device = await connectClient(t, b.url, { clientId: 'x1' })
  await device.publishAsync('drop/me', 'a', { qos: 1 })
  await device.publishAsync('keep/me', 'b', { qos: 1 })
  await waitFor(() => b.published.some((p) => p.packet.topic === 'keep/me'), 5000, 'the kept one')
  t.notOk(b.published.some((p) => p.packet.topic === 'drop/me'), 'the marked packet was acked (publishAsync resolved) and not published')
})

t.test('same-node takeover: during the new client\'s authenticate, broker.clients still holds the old one, open', { timeout: 30_000 }, async (t) => {
  const b = await bareBroker(t)
  const seenAtAuth: Array<{ old: Client | undefined, oldClosed: boolean }> = []
  const authenticate = b.broker.authenticate
  b.broker.authenticate = (client, u, p, done) => {
    const old = liveClient(b.broker, client.id)
    seenAtAuth.push({ old, oldClosed: old !== undefined && isClosed(old) })
    authenticate(client, u, p, done)
  }
  await connectClient(t, b.url, { clientId: 'tk', will: { ...WILL, topic: 'tk/will' } })
  const first = liveClient(b.broker, 'tk')!
  await connectClient(t, b.url, { clientId: 'tk' })
  t.equal(seenAtAuth[1]?.old, first, 'liveClient(id) is the old connection while the new one authenticates')
  t.equal(seenAtAuth[1]?.oldClosed, false, 'and it is not closed yet (Aedes closes it in registerClient, after the hooks)')
  t.ok(isClosed(first), 'then Aedes closed it')
  t.not(liveClient(b.broker, 'tk'), first, 'and broker.clients holds the new one')
  await waitFor(() => b.authorized.find((a) => a.packet.topic === 'tk/will'), 5000, 'the old connection\'s will')
  const will = b.authorized.find((a) => a.packet.topic === 'tk/will')!
  t.equal(will.client, first, 'the taken-over connection\'s will passes authorizePublish as the old client')
  t.ok(will.wasPendingWill, 'as the object its client.will held')
})

t.test('delWill: Aedes deletes a closing client\'s stored will through broker.persistence, by { id, brokerId } (will-deletes.ts)', { timeout: 30_000 }, async (t) => {
  const b = await bareBroker(t)
  const deleted: StoredWillKey[] = []
  afterWillDeleted(b.broker, async (who) => { deleted.push({ id: who.id, brokerId: who.brokerId }) })
  const graceful = await connectClient(t, b.url, { clientId: 'dw1', will: { ...WILL, topic: 'dw1/will' } })
  t.same(deleted, [{ id: 'dw1', brokerId: undefined }],
    'at CONNECT (storeWill) Aedes calls delWill with the client itself: an id, and no brokerId')
  const byBroker = (id: string): StoredWillKey | undefined => deleted.find((d) => d.id === id && d.brokerId !== undefined)
  await graceful.endAsync()
  await waitFor(() => byBroker('dw1'), 5000, 'delWill after DISCONNECT')
  t.same(byBroker('dw1'), { id: 'dw1', brokerId: 'pin' }, 'a DISCONNECT deletes the stored will by { id, brokerId }')
  const dropped = await connectClient(t, b.url, { clientId: 'dw2', will: { ...WILL, topic: 'dw2/will' } })
  ;(dropped as unknown as { stream: Socket }).stream.destroy()
  await waitFor(() => byBroker('dw2'), 5000, 'delWill after the will')
  t.ok(b.published.some((p) => p.packet.topic === 'dw2/will'), 'a lost connection\'s will is published, then its stored will deleted')
})

t.test('$SYS topics: new/clients listeners registered before listen() run before Aedes closes the local client', { timeout: 30_000 }, async (t) => {
  const order: string[] = []
  const heard: Array<{ topic: string, payload: string }> = []
  let b: Bare | null = null
  b = await bareBroker(t, {
    heartbeatInterval: 50,
    before: (_broker, mq) => {
      mq.on('$SYS/+/new/clients', (packet, done) => {
        const id = packet.payload.toString()
        const local = b === null ? undefined : liveClient(b.broker, id)
        if (packet.topic.split('/')[1] !== 'pin' && local !== undefined) order.push(`vigil saw ${id} closed=${isClosed(local)}`)
        done()
      })
      mq.on('$SYS/+/heartbeat', (p, done) => { heard.push({ topic: p.topic, payload: p.payload.toString() }); done() })
    }
  })
  await waitFor(() => heard.length > 0, 5000, 'a heartbeat')
  t.same(heard[0], { topic: '$SYS/pin/heartbeat', payload: 'pin' }, 'heartbeats are $SYS/<id>/heartbeat with the id as payload (cluster.ts)')

  const own: string[] = []
  b.mq.on('$SYS/pin/new/clients', (p, done) => { own.push(p.payload.toString()); done() })
  const device = await connectClient(t, b.url, { clientId: 'n1' })
  await waitFor(() => own.includes('n1'), 5000, 'own new/clients')
  t.pass('a CONNECT announces $SYS/<this id>/new/clients with the client id as payload')

  const closedSeen = new Promise<void>((resolve) => device.once('close', () => resolve()))
  b.mq.emit({ topic: '$SYS/other/new/clients', payload: Buffer.from('n1') })
  await closedSeen
  t.same(order, ['vigil saw n1 closed=false'], 'the early listener saw the client still open')
  t.equal(liveClient(b.broker, 'n1'), undefined, 'then Aedes closed the client taken over by another node')
})

t.test('parser internals: _parseLength and _emitError (packet-size.ts), _parseString and one packet listener (strict-packets.ts)', { timeout: 30_000 }, async (t) => {
  const errors: string[] = []
  const b = await bareBroker(t, {
    before: (broker) => {
      installStrictPackets(broker, { refused: () => {} })
      installPacketSizeLimit(broker, 256)
      broker.on('clientError', (_c, err) => errors.push((err as { code?: string }).code ?? err.message))
      broker.on('connectionError', (_c, err) => errors.push((err as { code?: string }).code ?? err.message))
    }
  })
  const ok = await connectClient(t, b.url, { clientId: 'ok1' })
  await ok.publishAsync('small', 'x', { qos: 1 })
  t.pass('both patches install on a fresh client (the internals exist) and a good client works')

  // Only the fixed header of a 1 MB PUBLISH: the guard must fire on the length alone.
  const socket = await rawSocket(t, b.port)
  socket.write(connectBytes('big1'))
  await connackOf(socket)
  socket.write(Buffer.from([0x30, 0x80, 0x80, 0x40]))
  await closed(socket)
  await waitFor(() => errors.includes('VIGIL_E_PACKET_TOO_LARGE'), 5000, 'the size error')
  t.pass('_parseLength runs once the Remaining Length is decoded, before the body; _emitError closes the client')

  const bad = await rawSocket(t, b.port)
  bad.write(connectBytes('bad\u0000id'))
  await closed(bad)
  await waitFor(() => errors.includes('VIGIL_E_PROTOCOL'), 5000, 'the protocol error')
  t.pass('_parseString sees every decoded string (U+0000 in a clientId refused)')
})

t.test('mqemitter internals: _do, _released, _messageQueue, _messageCallbacks, current, closed (emitter-depth.ts, local-first-emitter.ts)', { timeout: 30_000 }, async (t) => {
  const mq = mqemitter({ concurrency: 1 })
  const e = mq as unknown as { _do: unknown, _released: unknown, _messageQueue: unknown[], _messageCallbacks: unknown[], current: number, closed: boolean }
  t.equal(typeof e._do, 'function', '_do')
  t.equal(typeof e._released, 'function', '_released')
  let release: () => void = () => {}
  const got: number[] = []
  mq.on('slow', (_m, done) => { release = done })
  mq.on('fast', (m, done) => { got.push(m.n as number); done() })
  mq.emit({ topic: 'slow' })
  mq.emit({ topic: 'fast', n: 1 }, () => {})
  t.equal(e.current, 1, 'current counts the deliveries in flight')
  t.equal(e._messageQueue.length, 1, 'a message over concurrency waits in _messageQueue')
  t.equal(e._messageCallbacks.length, 1, 'with its callback in _messageCallbacks')
  release()
  t.same(got, [1], '_released (the done of the last subscriber) delivers the next queued message synchronously')
  t.equal(e.current, 0)
  boundEmitterDepth(mq)
  t.ok(Object.prototype.hasOwnProperty.call(mq, '_do'), 'boundEmitterDepth installs its own _do on the instance')
  const Ctor = mqemitter as unknown as new (opts: object) => { on: unknown, emit: unknown, removeListener: unknown, close: unknown }
  const viaNew = new Ctor({ concurrency: 2 })
  const proto = (mqemitter as unknown as { prototype: Record<string, unknown> }).prototype
  t.ok(['on', 'emit', 'removeListener', 'close'].every((m) => typeof proto[m] === 'function'), 'mqemitter is a constructor with on/emit/removeListener/close on its prototype (LocalFirstEmitter extends it)')
  t.equal(e.closed, false, 'closed is false while open')
  await new Promise<void>((resolve) => (viaNew.close as (cb: () => void) => void).call(viaNew, resolve))
  t.equal((viaNew as unknown as { closed: boolean }).closed, true, 'closed is true after close()')
})

t.test('memory persistence: wills, retained streams, the offline queue', { timeout: 30_000 }, async (t) => {
  const b = await bareBroker(t)
  const p = b.persistence
  const w1 = { cmd: 'publish', topic: 'w/1', payload: Buffer.from('1'), qos: 0, retain: false, dup: false } as WillPacket
  await p.putWill({ id: 'c1' } as unknown as Client, w1)
  t.equal(w1.brokerId, 'pin', 'putWill tags the packet with the persistence\'s broker id')
  t.equal(w1.clientId, 'c1', 'and the client id')
  const all: WillPacket[] = []
  for await (const w of p.streamWill({})) all.push(w)
  t.same(all.map((w) => w.clientId), ['c1'], 'streamWill({}) yields every stored will')
  const alive: WillPacket[] = []
  for await (const w of p.streamWill({ pin: Date.now() })) alive.push(w)
  t.same(alive, [], 'streamWill(brokers) skips the wills of brokers listed as alive')
  t.equal((await p.delWill({ id: 'c1', brokerId: 'pin' }) as WillPacket | undefined)?.topic, 'w/1', 'delWill returns the will it removed')
  t.equal(await p.delWill({ id: 'c1', brokerId: 'pin' }), undefined, 'and nothing the second time')

  const retained = async (topic: string, payload: string): Promise<void> => await new Promise<void>((resolve) =>
    b.broker.publish({ cmd: 'publish', topic, payload: Buffer.from(payload), qos: 0, retain: true, dup: false }, () => resolve()))
  await retained('r/a', 'A')
  await retained('r/b', 'B')
  await retained('$x/c', 'C')
  const combi: string[] = []
  for await (const r of p.createRetainedStreamCombi(['r/a', 'r/#'])) combi.push(r.topic)
  t.same([...new Set(combi)].sort(), ['r/a', 'r/b'], 'createRetainedStreamCombi(patterns) yields what matches any pattern')
  const one: string[] = []
  for await (const r of p.createRetainedStream('r/b')) one.push(r.topic)
  t.same(one, ['r/b'], 'createRetainedStream(topic) yields that topic')

  // The offline queue: Aedes queues for an offline persistent session through outgoingEnqueueCombi,
  // and outgoingClearMessageId with no messageId drops the oldest never-sent message (queue-limit.ts).
  const session = await connectClient(t, b.url, { clientId: 'q1', clean: false })
  await subscribe(session, 'q/#', 1)
  await session.endAsync()
  await waitFor(() => liveClient(b.broker, 'q1') === undefined, 5000, 'q1 offline')
  const enqueued: string[] = []
  guardOfflineQueue(p)
  const drops: number[] = []
  limitOfflineQueues(p, (id) => liveClient(b.broker, id) !== undefined, 2, (n) => drops.push(n), (err) => t.error(err))
  const pq = p as unknown as { outgoingEnqueueCombi(subs: Array<{ clientId: string }>, packet: PublishPacket): Promise<void> }
  const enqueue = pq.outgoingEnqueueCombi.bind(pq)
  pq.outgoingEnqueueCombi = async (subs, packet) => { enqueued.push(packet.topic); await enqueue(subs, packet) }
  for (const n of [1, 2, 3]) {
    await new Promise<void>((resolve) => b.broker.publish({ cmd: 'publish', topic: `q/${n}`, payload: Buffer.from(String(n)), qos: 1, retain: false, dup: false }, () => resolve()))
  }
  t.same(enqueued, ['q/1', 'q/2', 'q/3'], 'a QoS 1 publish to an offline session goes through outgoingEnqueueCombi')
  await waitFor(() => drops.length === 1, 5000, 'the drop')
  const queued: string[] = []
  for await (const m of p.outgoingStream({ id: 'q1' })) queued.push(m.topic)
  t.same(queued, ['q/2', 'q/3'], 'outgoingClearMessageId({ messageId: undefined }) dropped the oldest never-sent message')
})

t.test('retained lookups: Aedes stores through storeRetained and answers SUBSCRIBE from createRetainedStreamCombi, piped (retained-visibility.ts)', { timeout: 30_000 }, async (t) => {
  const b = await bareBroker(t)
  const p = b.persistence as unknown as {
    storeRetained(packet: PublishPacket): Promise<void>
    createRetainedStreamCombi(patterns: string[]): unknown
  }
  const stored: string[] = []
  const storeRetained = p.storeRetained.bind(p)
  p.storeRetained = async (packet) => { stored.push(packet.topic); await storeRetained(packet) }
  const asked: string[][] = []
  // Answer the lookup from here: what the subscriber gets proves this is the call Aedes uses.
  p.createRetainedStreamCombi = (patterns) => {
    asked.push(patterns)
    return Readable.from([{ cmd: 'publish', topic: 'look/served', payload: Buffer.from('from the lookup'), qos: 0, retain: true }])
  }
  const pub = await connectClient(t, b.url, { clientId: 'rp' })
  await pub.publishAsync('look/stored', 'x', { qos: 1, retain: true })
  t.same(stored, ['look/stored'], 'a retained PUBLISH goes through persistence.storeRetained')
  const sub = await connectClient(t, b.url, { clientId: 'rs' })
  const got = collect(sub)
  await subscribe(sub, ['look/#', 'other/+'], 1)
  await waitFor(() => got.find((m) => m.topic === 'look/served'), 5000, 'the served retained message')
  t.same(asked, [['look/#', 'other/+']], 'SUBSCRIBE asks createRetainedStreamCombi once, with the new filters')
  t.ok(got.find((m) => m.topic === 'look/served')?.retain, 'and delivers what its stream yields, as retained (the stream is piped: it must be a Readable)')
})

t.test('Redis persistence: wills and the offline queue\'s keys (queue-limit.ts)', { timeout: 60_000 }, async (t) => {
  const redis = await startRedis(t)
  const conn = new Redis(redis.url, { maxRetriesPerRequest: 3 })
  const check = redis.client()
  t.teardown(() => { conn.disconnect() })
  const b = await bareBroker(t, { persistence: aedesPersistenceRedis({ conn }) })
  const p = b.persistence

  const w1 = { cmd: 'publish', topic: 'w/1', payload: Buffer.from('1'), qos: 0, retain: false, dup: false } as WillPacket
  await p.putWill({ id: 'c1' } as unknown as Client, w1)
  t.equal(w1.brokerId, 'pin', 'putWill tags the packet with the broker id')
  const all: WillPacket[] = []
  for await (const w of p.streamWill({})) all.push(w)
  t.same(all.map((w) => [w.clientId, w.brokerId, w.topic]), [['c1', 'pin', 'w/1']], 'streamWill({}) yields the stored will, decoded, with its ids')
  const alive: WillPacket[] = []
  for await (const w of p.streamWill({ pin: Date.now() })) alive.push(w)
  t.same(alive, [], 'streamWill(brokers) skips the wills of brokers listed as alive')
  t.equal((await p.delWill({ id: 'c1', brokerId: 'pin' }) as WillPacket | null)?.topic, 'w/1', 'delWill({ id, brokerId }) returns the will it removed')
  const left: WillPacket[] = []
  for await (const w of p.streamWill({})) left.push(w)
  t.same(left, [], 'and it is gone')

  const session = await connectClient(t, b.url, { clientId: 'q1', clean: false })
  await subscribe(session, 'q/#', 1)
  await session.endAsync()
  await waitFor(() => liveClient(b.broker, 'q1') === undefined, 5000, 'q1 offline')
  const publish = async (n: number): Promise<void> => await new Promise<void>((resolve, reject) =>
    b.broker.publish({ cmd: 'publish', topic: `q/${n}`, payload: Buffer.from(String(n)), qos: 1, retain: false, dup: false }, (err) => err ? reject(err) : resolve()))
  await publish(1)
  const keys = await check.lrange('outgoing:q1', 0, -1)
  t.equal(keys.length, 1, 'a session\'s queue is the list outgoing:<clientId>')
  t.equal(await check.exists(`${keys[0]}:offlineCount`), 1, 'each queued packet key has a <key>:offlineCount')

  const drops: number[] = []
  limitOfflineQueuesRedis(p, conn, (id) => liveClient(b.broker, id) !== undefined, 2, (n) => drops.push(n), (err) => t.error(err))
  for (const n of [2, 3, 4]) await publish(n)
  await waitFor(() => drops.reduce((a, n) => a + n, 0) === 2, 5000, 'two drops')
  t.equal(await check.llen('outgoing:q1'), 2, 'the list is trimmed to the limit')
  t.equal(await check.exists(`${keys[0]}:offlineCount`), 0, 'the dropped packet\'s counter is released')
  const queued: string[] = []
  for await (const m of p.outgoingStream({ id: 'q1' })) queued.push(m.topic)
  t.same(queued, ['q/3', 'q/4'], 'outgoingStream yields the newest two, the oldest dropped')
})

t.test('client dedupe: duplicates, deliver0 and deliverQoS (delivery-dedupe.ts), read when a client subscribes', { timeout: 30_000 }, async (t) => {
  const send = (b: Bare, topic: string, brokerCounter: number): Promise<void> => new Promise<void>((resolve) => b.broker.publish(
    { cmd: 'publish', topic, payload: Buffer.from(topic), qos: 1, retain: false, dup: false, brokerId: 'far', brokerCounter } as PublishPacket, () => resolve()))
  for (const installed of [false, true]) {
    const b = await bareBroker(t, { id: `dd-${String(installed)}`, before: (broker) => { if (installed) installOrderTolerantDedupe(broker) } })
    const sub = await connectClient(t, b.url, { clientId: `dd-${String(installed)}` })
    const got = collect(sub)
    await subscribe(sub, ['dd/#', 'dd/+'], 1)
    await send(b, 'dd/later', 10)
    await send(b, 'dd/earlier', 5)
    await send(b, 'dd/end', 20)
    await waitFor(() => got.some((m) => m.topic === 'dd/end'), 5000, 'the barrier')
    const topics = got.map((m) => m.topic)
    t.equal(topics.filter((x) => x === 'dd/later').length, 1, `${installed ? 'installed' : 'bare Aedes'}: two matching subscriptions, one copy`)
    t.equal(topics.filter((x) => x === 'dd/earlier').length, installed ? 1 : 0,
      installed ? 'installed: a lower counter after a higher one is delivered' : 'bare Aedes drops a lower counter from the same broker after a higher one')
  }
})
