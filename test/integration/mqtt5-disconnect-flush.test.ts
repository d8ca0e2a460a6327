/**
 * A server DISCONNECT reaches the MQTT 5 client every time, and nothing after
 * the refusal is handled (broker/aedes/disconnect-flush.ts). The flood case of
 * test/conformance5/cases_limits.py lost its DISCONNECT 0x93 in about 2 runs
 * of 8: here it runs eight times in a row over raw sockets that write 1,001
 * unreleased QoS 2 PUBLISH (and more behind them) before reading anything.
 * Then the other reason codes Vigil ends a connection with: 0x81 (malformed),
 * 0x95 (mqtt.maxPacketSize) after a flood of QoS 1 PUBLISH, 0x98 (a kick, on TCP, TLS
 * and WebSocket), and a client that never closes its side.
 */
import { connect as netConnect } from 'node:net'
import t, { type Test } from 'tap'
import { DISCONNECT_LINGER_MS } from '../../broker/aedes/index.js'
import { startBroker } from '../helpers/broker.js'
import { makeCerts } from '../helpers/certs.js'
import { connectClient, subscribe, waitFor } from '../helpers/clients.js'
import { DISCONNECT, PUBREC, RawSession5, rawConnect5 } from '../support/raw-mqtt5.js'
import { expectNothingBefore } from '../support/wait.js'

const WINDOW = 1000
const RUNS = 8

/** The session's DISCONNECT once the server closed the connection; it must be the last packet. */
async function endedWith (t: Test, s: RawSession5, reason: number, what: string): Promise<void> {
  await waitFor(() => s.closed, 20_000, `${what}: the connection closed by the broker`)
  const last = s.packets[s.packets.length - 1]
  t.equal(last?.type, DISCONNECT, `${what}: the last packet is a DISCONNECT (${s.packets.length} packets)`)
  t.equal(last?.body[0], reason, `${what}: reason 0x${reason.toString(16)}`)
  t.equal(s.packets.filter((p) => p.type === DISCONNECT).length, 1, `${what}: one DISCONNECT`)
}

t.test(`DISCONNECT 0x93 after a flood of ${WINDOW + 1} unreleased QoS 2 PUBLISH arrives every time (${RUNS} runs); nothing after the refusal is accepted`, { timeout: 300_000 }, async (t) => {
  const broker = await startBroker(t)
  const watcher = await connectClient(t, broker.url, { protocolVersion: 5, clientId: 'flood-watcher' })
  const seen: string[] = []
  watcher.on('message', (topic, payload) => seen.push(`${topic} ${payload.toString()}`))
  await subscribe(watcher, 'devices/#', 0)
  for (let run = 1; run <= RUNS; run++) {
    const id = `flood-${run}`
    const s = await rawConnect5(t, broker.ports.mqtt, id)
    // Past the window, and more behind it that must never be handled.
    for (let n = 1; n <= WINDOW + 50; n++) {
      s.send({ cmd: 'publish', topic: `devices/${id}/q2`, payload: Buffer.from(`n${n}`), qos: 2, messageId: n, dup: false, retain: false })
    }
    await endedWith(t, s, 0x93, `run ${run}`)
    const recs = s.packets.filter((p) => p.type === PUBREC).map((p) => p.body.readUInt16BE(0))
    t.ok(recs.length <= WINDOW, `run ${run}: ${recs.length} PUBREC, at most ${WINDOW}`)
    t.same(recs.filter((n) => n > WINDOW), [], `run ${run}: no PUBREC for a PUBLISH past the window`)
  }
  // Barrier: a message published after every flood ended, through the same subscription.
  const barrier = await connectClient(t, broker.url, { clientId: 'flood-barrier' })
  const late = await expectNothingBefore(seen, (m) => Number(/ n(\d+)$/.exec(m)?.[1] ?? 0) > WINDOW, {
    send: async () => await barrier.publishAsync('devices/flood-barrier/b', 'barrier', { qos: 1 }),
    arrived: () => seen.includes('devices/flood-barrier/b barrier'),
    timeoutMs: 20_000
  })
  t.same(late, [], 'no PUBLISH past the window reached a subscriber')
})

t.test('DISCONNECT 0x81 (malformed), 0x95 (over mqtt.maxPacketSize after a flood) and 0x98 (kicked) arrive before the close', { timeout: 120_000 }, async (t) => {
  const broker = await startBroker(t, { mqtt: { maxPacketSize: 4096 } })
  for (let run = 1; run <= 3; run++) {
    const bad = await rawConnect5(t, broker.ports.mqtt, `bad-${run}`)
    // PUBLISH with QoS 3 [MQTT-3.3.1-4]: a Malformed Packet.
    bad.socket.write(Buffer.from([0x36, 0x06, 0x00, 0x01, 0x74, 0x00, 0x01, 0x00]))
    await endedWith(t, bad, 0x81, `malformed, run ${run}`)

    const big = await rawConnect5(t, broker.ports.mqtt, `big-${run}`)
    for (let n = 1; n <= 500; n++) big.send({ cmd: 'publish', topic: `devices/big-${run}/q1`, payload: Buffer.from(`n${n}`), qos: 1, messageId: n, dup: false, retain: false })
    big.send({ cmd: 'publish', topic: `devices/big-${run}/q1`, payload: Buffer.alloc(8192, 0x61), qos: 1, messageId: 501, dup: false, retain: false })
    await endedWith(t, big, 0x95, `too large, run ${run}`)
  }
  const kicked = await rawConnect5(t, broker.ports.mqtt, 'kicked-1')
  t.equal(await broker.services.need('liveness').kick('kicked-1', 'kicked'), true, 'kicked')
  await endedWith(t, kicked, 0x98, 'kicked')
})

t.test('a kicked MQTT 5 client gets its DISCONNECT 0x98, then the close, on TCP, TLS and WebSocket (mqtt.js)', { timeout: 120_000 }, async (t) => {
  const certs = makeCerts(t)
  const broker = await startBroker(t, { mqtt: { tls: { port: 0, cert: certs.cert, key: certs.key } } })
  const urls = { tcp: broker.url, tls: `mqtts://127.0.0.1:${broker.ports.tls}`, ws: broker.wsUrl }
  for (const [name, url] of Object.entries(urls)) {
    const id = `kick-${name}`
    const client = await connectClient(t, url, { protocolVersion: 5, clientId: id, ca: certs.certPem, reconnectPeriod: 0 })
    const events: string[] = []
    client.on('disconnect', (packet) => events.push(`disconnect 0x${(packet.reasonCode ?? 0).toString(16)}`))
    client.on('close', () => events.push('close'))
    t.equal(await broker.services.need('liveness').kick(id, 'kicked'), true, `${name}: kicked`)
    await waitFor(() => events.includes('close'), 20_000, `${name}: the close`)
    t.same(events.slice(0, 2), ['disconnect 0x98', 'close'], `${name}: DISCONNECT 0x98 first, then the close`)
  }
})

t.test('a client that keeps its side open after the DISCONNECT is closed by the broker anyway (the linger is bounded)', { timeout: 60_000 }, async (t) => {
  const broker = await startBroker(t)
  const socket = netConnect({ port: broker.ports.mqtt, host: '127.0.0.1', allowHalfOpen: true })
  socket.on('error', () => {})
  t.teardown(() => socket.destroy())
  await new Promise<void>((resolve) => socket.once('connect', resolve))
  const s = new RawSession5(socket)
  s.send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 5, keepalive: 60, clean: true, clientId: 'half-open' })
  await waitFor(() => s.packets.find((p) => p.type === 2), 10_000, 'CONNACK')
  const events: string[] = []
  socket.on('end', () => events.push('end'))
  socket.on('close', () => events.push('close'))
  t.equal(await broker.services.need('liveness').kick('half-open', 'kicked'), true)
  await waitFor(() => events.includes('end'), 10_000, 'the broker\'s FIN')
  // Still writing after the FIN: read and dropped by the broker, never answered, until the broker
  // closes its socket; the next write then meets a reset (how a client that keeps its side open sees the close).
  const pinging = setInterval(() => { if (!socket.destroyed) socket.write(Buffer.from([0xc0, 0x00])) }, 100)
  t.teardown(() => clearInterval(pinging))
  await waitFor(() => events.includes('close'), 20_000, 'the broker closes the half-open connection')
  clearInterval(pinging)
  t.same(events, ['end', 'close'], `FIN after the DISCONNECT, then the close (${DISCONNECT_LINGER_MS} ms linger at most)`)
  t.same(s.packets.slice(1).map((p) => p.type), [DISCONNECT], 'the DISCONNECT and nothing else (no PINGRESP)')
})
