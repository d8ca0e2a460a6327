/**
 * Every refusal an MQTT 5 client gets carries a Reason String: the CONNACKs of
 * the authenticate hooks (bad credentials, not authorized, banned, limits,
 * Redis unavailable) and the SUBACK of a refused filter; a 3.1.1 client gets
 * the same return codes as before. Real broker, raw v5 packets and mqtt.js.
 */
import { execFile } from 'node:child_process'
import t from 'tap'
import mqttPacket from 'mqtt-packet'
import { startBroker } from '../helpers/broker.js'
import { aclFile, connackCode, passwordFile } from '../helpers/auth.js'
import { startRedis } from '../helpers/redis.js'
import { connectClient, rawSocket, waitFor } from '../helpers/clients.js'
import { metricValue } from '../support/prom-text.js'
import { eventually } from '../support/wait.js'

interface Teardown { teardown(fn: () => unknown): void }
const v5 = { protocolVersion: 5 as const }

/** The CONNACK a raw MQTT 5 CONNECT gets. */
async function connack5 (t: Teardown, port: number, connect: Partial<mqttPacket.IConnectPacket>): Promise<mqttPacket.IConnackPacket> {
  const socket = await rawSocket(t, port)
  const got = new Promise<mqttPacket.IConnackPacket>((resolve) => {
    const parser = mqttPacket.parser({ protocolVersion: 5 })
    parser.on('packet', (p) => resolve(p as mqttPacket.IConnackPacket))
    socket.on('data', (d: Buffer) => parser.parse(d))
  })
  socket.write(mqttPacket.generate({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 5, keepalive: 0, clean: true, clientId: 'x', ...connect } as mqttPacket.IConnectPacket, { protocolVersion: 5 }))
  return await got
}

const SECRET = 'hunter2-very-secret'

t.test('bad credentials, not authorized, banned: v5 CONNACK 0x86 / 0x87 with a Reason String that never holds the password; 3.1.1 unchanged', async (t) => {
  const broker = await startBroker(t, {
    auth: { passwordFile: passwordFile(t, { alice: 'right' }), allowAnonymous: false, failureBan: { attempts: 3, window: '60s', ban: '60s' } }
  })
  const port = broker.ports.mqtt
  const bad = await connack5(t, port, { clientId: 'v5-bad', username: 'alice', password: Buffer.from(SECRET) })
  t.equal(bad.reasonCode, 0x86, 'bad user name or password')
  t.match(bad.properties?.reasonString, /./, `Reason String: ${String(bad.properties?.reasonString)}`)
  t.notMatch(bad.properties?.reasonString, SECRET, 'the Reason String never carries the password')

  const anon = await connack5(t, port, { clientId: 'v5-anon' })
  t.equal(anon.reasonCode, 0x87, 'not authorized (anonymous)')
  t.match(anon.properties?.reasonString, /./, `Reason String: ${String(anon.properties?.reasonString)}`)

  t.equal(await connackCode(broker.url, { clientId: 'v4-bad', username: 'alice', password: SECRET }), 4, '3.1.1: CONNACK 4')
  // The third bad attempt from this address bans it: even the right password is refused now.
  t.equal((await connack5(t, port, { clientId: 'v5-bad3', username: 'alice', password: Buffer.from(SECRET) })).reasonCode, 0x86)
  const banned = await connack5(t, port, { clientId: 'v5-banned', username: 'alice', password: Buffer.from('right') })
  t.equal(banned.reasonCode, 0x87, 'banned: not authorized')
  t.match(banned.properties?.reasonString, /too many bad credentials/, 'the Reason String says why')
  t.equal(await connackCode(broker.url, { clientId: 'v4-banned', username: 'alice', password: 'right' }), 5, '3.1.1: CONNACK 5')
  // A third-party MQTT 5 client reads the refusal (Mosquitto's, which prints the reason code's text).
  const mosq = await new Promise<{ code: number | null, out: string }>((resolve) => {
    execFile('mosquitto_sub', ['-V', 'mqttv5', '-h', '127.0.0.1', '-p', String(port), '-i', 'mosq-refused', '-u', 'alice', '-P', 'wrong', '-t', 'x', '-C', '1', '-W', '10'],
      (err, stdout, stderr) => resolve({ code: err === null ? 0 : (err as { code?: number }).code ?? null, out: stdout + stderr }))
  })
  t.not(mosq.code, 0, 'mosquitto_sub -V mqttv5 exits non-zero')
  t.match(mosq.out, /not authori[sz]ed|bad user ?name or password/i, `mosquitto_sub says: ${mosq.out.trim()}`)
  // An MQTT 5 refusal is counted like a 3.1.1 one (its CONNACK carries the reason code, not a return code).
  t.equal(await metricValue(broker.metrics, 'vigil_connections_total', { result: 'rejected_auth' }), 7, 'all seven refusals counted as rejected_auth')
})

t.test('mqtt.maxConnections reached: v5 CONNACK 0x88 with a Reason String, 3.1.1 CONNACK 3', async (t) => {
  const broker = await startBroker(t, { mqtt: { maxConnections: 1 } })
  await connectClient(t, broker.url, { ...v5, clientId: 'v5-first' })
  const refused = await connack5(t, broker.ports.mqtt, { clientId: 'v5-second' })
  t.equal(refused.reasonCode, 0x88, 'server unavailable')
  t.match(refused.properties?.reasonString, /maxConnections/, 'the Reason String names the limit')
  t.equal(await connackCode(broker.url, { clientId: 'v4-second' }), 3, '3.1.1: CONNACK 3')
})

t.test('a CONNECT with Receive Maximum 0 or an Authentication Method: CONNACK 0x82 / 0x8C with a Reason String', async (t) => {
  const broker = await startBroker(t)
  const zero = await connack5(t, broker.ports.mqtt, { clientId: 'v5-rm0', properties: { receiveMaximum: 0 } })
  t.equal(zero.reasonCode, 0x82, 'protocol error')
  t.match(zero.properties?.reasonString, /Receive Maximum 0/, `Reason String: ${String(zero.properties?.reasonString)}`)
  const auth = await connack5(t, broker.ports.mqtt, { clientId: 'v5-auth', properties: { authenticationMethod: 'SCRAM-SHA-1' } })
  t.equal(auth.reasonCode, 0x8c, 'bad authentication method')
  t.match(auth.properties?.reasonString, /SCRAM-SHA-1/, `Reason String: ${String(auth.properties?.reasonString)}`)
})

t.test('Redis unavailable: v5 CONNACK 0x88 with a Reason String', { timeout: 60_000 }, async (t) => {
  const redis = await startRedis(t)
  const broker = await startBroker(t, { persistence: { redis: redis.url } })
  await redis.stop()
  await eventually(async () => (await broker.http.inject({ method: 'GET', url: '/readyz' })).statusCode === 503, 10_000)
  const refused = await connack5(t, broker.ports.mqtt, { clientId: 'v5-noredis' })
  t.equal(refused.reasonCode, 0x88, 'server unavailable')
  t.match(refused.properties?.reasonString, /redis unavailable/, 'the Reason String says why')
  t.equal(await connackCode(broker.url, { clientId: 'v4-noredis' }), 3, '3.1.1: CONNACK 3')
})

t.test('a refused filter: SUBACK 0x87 with a Reason String naming it, none when the client asked for no problem information', async (t) => {
  const broker = await startBroker(t, { auth: { aclFile: aclFile(t, 'topic readwrite ok/#\n'), allowAnonymous: true } })
  const dev = await connectClient(t, broker.url, { ...v5, clientId: 'v5-suback' })
  const acks: mqttPacket.ISubackPacket[] = []
  dev.on('packetreceive', (p) => { if (p.cmd === 'suback') acks.push(p as mqttPacket.ISubackPacket) })
  await dev.subscribeAsync({ 'secret/#': { qos: 1 }, 'ok/a': { qos: 1 } }).catch(() => {})
  await waitFor(() => acks.length === 1, 5000, 'SUBACK')
  t.same(acks[0]!.granted, [0x87, 1], 'one reason code per filter, in order')
  t.match(acks[0]!.properties?.reasonString, /secret\/#/, `Reason String: ${String(acks[0]!.properties?.reasonString)}`)
  await dev.subscribeAsync('ok/b', { qos: 1 })
  t.equal(acks[1]!.properties?.reasonString, undefined, 'a SUBACK granting everything carries none')

  const quiet = await connectClient(t, broker.url, { ...v5, clientId: 'v5-quiet', properties: { requestProblemInformation: false } })
  const quietAcks: mqttPacket.ISubackPacket[] = []
  quiet.on('packetreceive', (p) => { if (p.cmd === 'suback') quietAcks.push(p as mqttPacket.ISubackPacket) })
  await quiet.subscribeAsync('secret/x', { qos: 1 }).catch(() => {})
  await waitFor(() => quietAcks.length === 1, 5000, 'SUBACK')
  t.same(quietAcks[0]!.granted, [0x87])
  t.equal(quietAcks[0]!.properties?.reasonString, undefined, 'Request Problem Information 0: no Reason String [MQTT-3.1.2-29]')

  const old = await connectClient(t, broker.url, { clientId: 'v4-suback' })
  const granted = await old.subscribeAsync('secret/#', { qos: 1 }).catch((err: { packet?: { granted?: number[] } }) => err.packet?.granted?.map((qos) => ({ qos })) ?? [])
  t.equal(granted[0]?.qos, 0x80, '3.1.1: SUBACK 0x80')
})

for (const protocolVersion of [4, 5] as const) {
  t.test(`[${protocolVersion === 5 ? 'v5' : '3.1.1'}] a SUBSCRIBE with several filters, one of them __proto__, gets its SUBACK and both subscriptions work, in a restored session too`, async (t) => {
    const broker = await startBroker(t)
    const id = `proto-${protocolVersion}`
    const opts = { protocolVersion, clientId: id, clean: false, ...(protocolVersion === 5 ? { properties: { sessionExpiryInterval: 60 } } : {}) }
    const sub = await connectClient(t, broker.url, opts)
    const granted = await sub.subscribeAsync(['__proto__', 'p/a', 'constructor'], { qos: 1 })
    t.same(granted.map((g) => [g.topic, g.qos]), [['__proto__', 1], ['p/a', 1], ['constructor', 1]], 'one SUBACK, a code per filter')
    const pub = await connectClient(t, broker.url, { clientId: `${id}-pub` })
    const got: string[] = []
    sub.on('message', (topic) => got.push(topic))
    await pub.publishAsync('__proto__', 'x', { qos: 1 })
    await pub.publishAsync('p/a', 'y', { qos: 1 })
    await waitFor(() => got.length >= 2, 5000, 'both messages')
    t.same(got, ['__proto__', 'p/a'])
    // Restored: the persistent session comes back with all three subscriptions.
    sub.end(true)
    await new Promise<void>((resolve) => sub.once('close', () => resolve()))
    const back = await connectClient(t, broker.url, { ...opts, clean: false })
    const again: string[] = []
    back.on('message', (topic) => again.push(topic))
    await pub.publishAsync('__proto__', 'x2', { qos: 1 })
    await pub.publishAsync('constructor', 'z', { qos: 1 })
    await pub.publishAsync('p/a', 'y2', { qos: 1 })
    await waitFor(() => again.length >= 3, 5000, 'all three after the restore')
    t.same(again, ['__proto__', 'constructor', 'p/a'])
  })
}

/** A raw MQTT 5 connection, connected (CONNACK 0 seen), that records every packet it gets. */
async function raw5 (t: Teardown, port: number, clientId: string): Promise<{ socket: import('node:net').Socket, got: mqttPacket.Packet[] }> {
  const socket = await rawSocket(t, port)
  const got: mqttPacket.Packet[] = []
  const parser = mqttPacket.parser({ protocolVersion: 5 })
  parser.on('packet', (p) => got.push(p))
  socket.on('data', (d: Buffer) => parser.parse(d))
  socket.write(mqttPacket.generate({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 5, keepalive: 0, clean: true, clientId } as mqttPacket.IConnectPacket, { protocolVersion: 5 }))
  await waitFor(() => got.some((p) => p.cmd === 'connack'), 5000, 'CONNACK')
  return { socket, got }
}

const disconnectOf = async (got: mqttPacket.Packet[], what: string): Promise<mqttPacket.IDisconnectPacket> =>
  await waitFor(() => got.find((p) => p.cmd === 'disconnect') as mqttPacket.IDisconnectPacket | undefined, 10_000, `DISCONNECT (${what})`)

t.test('what ends an MQTT 5 connection is told in a DISCONNECT with a reason code and a Reason String: 0x95, 0x81, 0x93, 0x96', { timeout: 60_000 }, async (t) => {
  const broker = await startBroker(t, { mqtt: { maxPacketSize: 1024 }, limits: { publishRate: 5 } })
  const v5gen = { protocolVersion: 5 as const }

  const big = await raw5(t, broker.ports.mqtt, 'v5-big')
  big.socket.write(mqttPacket.generate({ cmd: 'publish', topic: 'b/x', payload: Buffer.alloc(4096), qos: 0, retain: false, dup: false } as mqttPacket.IPublishPacket, v5gen))
  const tooLarge = await disconnectOf(big.got, 'packet too large')
  t.equal(tooLarge.reasonCode, 0x95, 'packet too large')
  t.match(tooLarge.properties?.reasonString, /mqtt\.maxPacketSize 1024/, `Reason String: ${String(tooLarge.properties?.reasonString)}`)

  const filter = await raw5(t, broker.ports.mqtt, 'v5-filter')
  filter.socket.write(mqttPacket.generate({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'a+/b', qos: 0 }] } as mqttPacket.ISubscribePacket, v5gen))
  const malformed = await disconnectOf(filter.got, 'a bad filter')
  t.equal(malformed.reasonCode, 0x81, 'malformed packet')
  t.match(malformed.properties?.reasonString, /SUBSCRIBE/, `Reason String: ${String(malformed.properties?.reasonString)}`)
  t.notOk(filter.got.some((p) => p.cmd === 'suback'), 'no SUBACK for it')

  const plain = await startBroker(t)
  const window = await raw5(t, plain.ports.mqtt, 'v5-q2')
  const batch: Buffer[] = []
  for (let id = 1; id <= 1001; id++) {
    batch.push(mqttPacket.generate({ cmd: 'publish', topic: 'w/x', payload: Buffer.from('z'), qos: 2, messageId: id, retain: false, dup: false } as mqttPacket.IPublishPacket, v5gen))
  }
  window.socket.write(Buffer.concat(batch))
  const receiveMax = await disconnectOf(window.got, 'receive maximum exceeded')
  t.equal(receiveMax.reasonCode, 0x93, 'receive maximum exceeded')
  t.match(receiveMax.properties?.reasonString, /./, `Reason String: ${String(receiveMax.properties?.reasonString)}`)

  const fast = await connectClient(t, broker.url, { ...v5, clientId: 'v5-fast' })
  const gone = new Promise<mqttPacket.IDisconnectPacket>((resolve) => fast.on('packetreceive', (p) => { if (p.cmd === 'disconnect') resolve(p as mqttPacket.IDisconnectPacket) }))
  for (let i = 0; i < 30; i++) fast.publish('fast/x', 'y', { qos: 0 })
  const rate = await gone
  t.equal(rate.reasonCode, 0x96, 'message rate too high')
  t.match(rate.properties?.reasonString, /./, `Reason String: ${String(rate.properties?.reasonString)}`)
})

t.test('a QoS 2 PUBLISH the ACL refuses: PUBREC 0x87 with a Reason String', async (t) => {
  const broker = await startBroker(t, { auth: { aclFile: aclFile(t, 'topic readwrite ok/#\n'), allowAnonymous: true } })
  const dev = await connectClient(t, broker.url, { ...v5, clientId: 'v5-pubrec' })
  const recs: mqttPacket.IPubrecPacket[] = []
  dev.on('packetreceive', (p) => { if (p.cmd === 'pubrec') recs.push(p as mqttPacket.IPubrecPacket) })
  dev.publish('secret/q2', 'no', { qos: 2 })
  await waitFor(() => recs.length > 0, 5000, 'PUBREC')
  t.equal(recs[0]!.reasonCode, 0x87, 'not authorized')
  t.match(recs[0]!.properties?.reasonString, /may not publish/, `Reason String: ${String(recs[0]!.properties?.reasonString)}`)
})

t.test('a kicked MQTT 5 client gets DISCONNECT 0x98 with a Reason String, and is offline with reason kicked', async (t) => {
  const broker = await startBroker(t)
  const obs = await connectClient(t, broker.url, { clientId: 'obs-kicked' })
  const statuses: Array<Record<string, unknown>> = []
  obs.on('message', (_topic, payload) => { if (payload.length > 0) statuses.push(JSON.parse(payload.toString()) as Record<string, unknown>) })
  await obs.subscribeAsync('$liveness/v5-kicked', { qos: 1 })
  const dev = await connectClient(t, broker.url, { ...v5, clientId: 'v5-kicked' })
  const gone = new Promise<mqttPacket.IDisconnectPacket>((resolve) => dev.on('packetreceive', (p) => { if (p.cmd === 'disconnect') resolve(p as mqttPacket.IDisconnectPacket) }))
  await waitFor(() => statuses.some((s) => s.state === 'online'), 5000, 'online')
  t.equal(await broker.services.need('liveness').kick('v5-kicked', 'kicked'), true)
  const packet = await gone
  t.equal(packet.reasonCode, 0x98, 'administrative action')
  t.match(packet.properties?.reasonString, /operator/, `Reason String: ${String(packet.properties?.reasonString)}`)
  const offline = await waitFor(() => statuses.find((s) => s.state === 'offline'), 5000, 'offline')
  t.equal(offline.reason, 'kicked')
})
