/**
 * The real vigil-agent (firmware/linux, on libmosquitto) against a real Vigil:
 * the device protocol end to end, and the silent device made for real by
 * stalling the agent's application loop while its MQTT thread keeps pinging.
 */
import { spawnSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { heartbeatPayload } from '../../bench/device-payloads.js'
import { AGENT_BIN, firmwareBinary, startAgent } from '../helpers/agent.js'
import { startBroker, type TestBroker } from '../helpers/broker.js'
import { makeCerts } from '../helpers/certs.js'
import { collect, connectClient, sleep, subscribe, waitFor, type Received } from '../helpers/clients.js'

const json = (m: Received): Record<string, unknown> => JSON.parse(m.payload.toString()) as Record<string, unknown>
const port = (broker: TestBroker): number => broker.ports.mqtt
const state = (broker: TestBroker, id: string) => broker.services.need('liveness').get(id)

async function observer (t: Parameters<typeof startBroker>[0], broker: TestBroker, id: string) {
  const client = await connectClient(t, broker.url, { clientId: `obs-${id}` })
  const seen = collect(client)
  await subscribe(client, `devices/${id}/#`, 1)
  const on = (suffix: string) => seen.filter((m) => m.topic === `devices/${id}/${suffix}`)
  return { client, seen, on }
}

// Every case has its own broker and agent and mostly waits on the agent's timers: three at a time.
t.jobs = 3

t.test('birth carries fw and boot; heartbeats carry heartbeat_interval in the simulator\'s key order', async (t) => {
  const broker = await startBroker(t)
  const obs = await observer(t, broker, 'gw-birth')
  startAgent(t, { id: 'gw-birth', port: port(broker), interval: 1 })
  const birth = await waitFor(() => obs.on('status')[0], 5000, 'birth')
  t.equal(birth.qos, 1)
  const b = json(birth)
  t.match(b, { state: 'online', fw: '0.1.0', boot: 1 })
  t.ok(Math.abs((b.ts as number) - Date.now() / 1000) <= 2, 'birth ts is the device clock in seconds')
  const hb = await waitFor(() => obs.on('heartbeat')[0], 3000, 'heartbeat')
  const h = json(hb)
  t.equal(h.heartbeat_interval, 1)
  t.same(Object.keys(h), Object.keys(JSON.parse(heartbeatPayload({ ts: 0, uptime: 0, heap: 0, rssi: 0, interval: 1 }))),
    'same keys, same order as bench/simulator.ts')
  t.equal(hb.qos, 0)
  await waitFor(() => state(broker, 'gw-birth')?.state === 'online' ? true : null, 2000, 'online')
  // Retained: a client subscribing later still gets the birth.
  const late = await connectClient(t, broker.url, { clientId: 'late-birth' })
  const lateSeen = collect(late)
  await subscribe(late, 'devices/gw-birth/status', 1)
  const retained = await waitFor(() => lateSeen[0], 3000, 'retained birth')
  t.ok(retained.retain, 'the birth is retained')
  t.same(json(retained), b)
  const tel = await waitFor(() => obs.on('telemetry')[0], 3000, 'telemetry')
  t.match(json(tel), { seq: 1, dropped: 0 })
  t.type(json(tel).load1, 'number')
  t.type(json(tel).mem_avail_kb, 'number')
})

t.test('SIGUSR1 -> silent within 2.5 x interval + 1 s while the connection stays up (PINGREQ); SIGUSR2 -> online', async (t) => {
  const broker = await startBroker(t)
  const obs = await observer(t, broker, 'gw-freeze')
  // keepalive 5 s: the broker closes a connection after 7.5 s without a packet,
  // so a stall of 8.5 s stays connected only because the MQTT thread pings.
  const agent = startAgent(t, { id: 'gw-freeze', port: port(broker), interval: 1, keepalive: 5 })
  let pings = 0
  broker.broker.on('ping', (_packet, client) => { if (client.id === 'gw-freeze') pings++ })
  await waitFor(() => obs.on('heartbeat').length >= 2 ? true : null, 5000, 'heartbeats')
  const before = state(broker, 'gw-freeze')!
  t.equal(before.state, 'online')
  const stalledAt = Date.now()
  agent.child.kill('SIGUSR1')
  const silent = await waitFor(() => state(broker, 'gw-freeze')?.state === 'silent' ? state(broker, 'gw-freeze') : null, 6000, 'silent')
  const took = Date.now() - stalledAt
  t.ok(took <= 2.5 * 1000 + 1000, `silent ${took} ms after SIGUSR1 (bound 3500 ms)`)
  t.equal(silent!.epoch, before.epoch, 'the same connection')
  const heartbeatsWhenSilent = obs.on('heartbeat').length
  const pingsWhenSilent = pings
  await sleep(8500 - (Date.now() - stalledAt)) // the stall itself: 8.5 s, longer than the 7.5 s keep-alive expiry
  const still = state(broker, 'gw-freeze')!
  t.equal(still.state, 'silent', 'still connected (silent, not offline) 8.5 s into the stall')
  t.equal(still.epoch, before.epoch, 'never reconnected')
  t.ok(pings > pingsWhenSilent, `the MQTT thread kept pinging while the application loop was stalled (${pings - pingsWhenSilent} PINGREQ)`)
  t.equal(obs.on('heartbeat').length, heartbeatsWhenSilent, 'no heartbeat while stalled')
  agent.child.kill('SIGUSR2')
  const resumedAt = Date.now()
  const online = await waitFor(() => state(broker, 'gw-freeze')?.state === 'online' ? state(broker, 'gw-freeze') : null, 3000, 'online again')
  t.ok(Date.now() - resumedAt < 1500, 'online again at the next heartbeat')
  t.equal(online!.epoch, before.epoch, 'on the same connection')
})

t.test('SIGKILL -> offline connection_lost, the will stamped with the time of death within 1 s', async (t) => {
  const broker = await startBroker(t)
  const obs = await observer(t, broker, 'gw-kill')
  const agent = startAgent(t, { id: 'gw-kill', port: port(broker), interval: 1 })
  await waitFor(() => obs.on('status')[0], 5000, 'birth')
  const killedAt = Date.now()
  agent.child.kill('SIGKILL')
  await agent.exited
  const offline = await waitFor(() => state(broker, 'gw-kill')?.state === 'offline' ? state(broker, 'gw-kill') : null, 3000, 'offline')
  t.equal(offline!.reason, 'connection_lost')
  t.ok(offline!.since - killedAt <= 1000, `offline ${offline!.since - killedAt} ms after SIGKILL`)
  const will = await waitFor(() => obs.on('status').find((m) => json(m).state === 'offline'), 3000, 'will')
  const w = json(will)
  t.equal(w.reason, 'connection_lost')
  t.ok(typeof w.ts === 'number' && w.ts !== 0, 'ts stamped by the broker')
  t.ok(Math.abs((w.ts as number) - killedAt / 1000) <= 1, `will ts ${String(w.ts)} within 1 s of the kill (${killedAt / 1000})`)
})

t.test('SIGTERM -> offline graceful, the graceful status and no will', async (t) => {
  const broker = await startBroker(t)
  const obs = await observer(t, broker, 'gw-term')
  const agent = startAgent(t, { id: 'gw-term', port: port(broker), interval: 1 })
  await waitFor(() => obs.on('status')[0], 5000, 'birth')
  agent.child.kill('SIGTERM')
  t.equal(await agent.exited, 0, 'exit code 0')
  const offline = await waitFor(() => state(broker, 'gw-term')?.state === 'offline' ? state(broker, 'gw-term') : null, 3000, 'offline')
  t.equal(offline!.reason, 'graceful')
  // Barrier: anything the broker published on the close came before this.
  const barrier = await connectClient(t, broker.url, { clientId: 'barrier-term' })
  await barrier.publishAsync('devices/gw-term/barrier', 'b', { qos: 1 })
  await waitFor(() => obs.on('barrier')[0], 3000, 'barrier')
  t.same(obs.on('status').slice(1).map((m) => m.payload.toString()), ['{"state":"offline","reason":"graceful"}'],
    'after the birth: the graceful status only, no will')
  t.match(agent.stderr(), /stopping \(graceful\)/)
})

t.test('POST /api/devices/{id}/commands echo -> acked with the args as the result', async (t) => {
  const broker = await startBroker(t)
  const obs = await observer(t, broker, 'gw-echo')
  startAgent(t, { id: 'gw-echo', port: port(broker), interval: 1 })
  await waitFor(() => obs.on('heartbeat')[0], 5000, 'heartbeat')
  const args = { hello: 'wörld', n: [1, 2.5, null, true], nested: { deep: { x: '"quoted"' } } }
  const res = await broker.http.inject({ method: 'POST', url: '/api/devices/gw-echo/commands', payload: { command: 'echo', args, timeout: '5s' } })
  t.equal(res.statusCode, 200)
  t.match(res.json(), { status: 'acked', attempts: 1 })
  t.same(res.json().result, args)
  const unknown = await broker.http.inject({ method: 'POST', url: '/api/devices/gw-echo/commands', payload: { command: 'selfdestruct', timeout: '5s' } })
  t.equal(unknown.statusCode, 200)
  t.match(unknown.json(), { status: 'failed', result: 'unknown_command' })
})

t.test('the same command id twice -> acked twice, restart executed once (boot + 1 once)', async (t) => {
  const broker = await startBroker(t)
  const obs = await observer(t, broker, 'gw-restart')
  const agent = startAgent(t, { id: 'gw-restart', port: port(broker), interval: 1 })
  await waitFor(() => obs.on('status')[0], 5000, 'birth')
  const sender = await connectClient(t, broker.url, { clientId: 'sender-restart' })
  const cmd = JSON.stringify({ id: 'restart-1', command: 'restart', args: {}, ts: Date.now() })
  await sender.publishAsync('devices/gw-restart/commands', cmd, { qos: 1 })
  await waitFor(() => obs.on('commands/ack')[0], 5000, 'first ack')
  const births = () => obs.on('status').map(json).filter((s) => s.state === 'online')
  await waitFor(() => births().length >= 2 ? true : null, 5000, 'birth after the restart')
  t.equal(births()[1]!.boot, 2, 'boot + 1')
  await sender.publishAsync('devices/gw-restart/commands', cmd, { qos: 1 })
  await waitFor(() => obs.on('commands/ack')[1], 5000, 'second ack')
  // Barrier: an echo behind it through the same loop.
  await sender.publishAsync('devices/gw-restart/commands', JSON.stringify({ id: 'echo-after', command: 'echo', args: 1, ts: 0 }), { qos: 1 })
  await waitFor(() => obs.on('commands/ack')[2], 5000, 'barrier ack')
  const acks = obs.on('commands/ack').map((m) => m.payload.toString())
  t.same(acks, [
    '{"id":"restart-1","status":"ok","result":{"boot":1}}',
    '{"id":"restart-1","status":"ok","result":{"boot":1}}',
    '{"id":"echo-after","status":"ok","result":1}'
  ], 'acked twice with the same answer')
  t.same(births().map((s) => s.boot), [1, 2], 'restarted once')
  t.equal(readFileSync(join(agent.stateDir, 'boot'), 'utf8'), '2\n', 'the boot counter in --state-dir')
  t.equal(agent.child.exitCode, null, 'the same process, re-executed')
})

t.test('a bad command line exits 2 with one line naming the option; --help exits 0', async (t) => {
  const bin = firmwareBinary(AGENT_BIN)
  const run = (...args: string[]) => spawnSync(bin, args, { encoding: 'utf8', timeout: 5000 })
  const cases: Array<[string[], RegExp]> = [
    [[], /--id: required/],
    [['--id', 'a/b'], /--id: expected 1 to 64 characters without \/ \+ #, got "a\/b"/],
    [['--id', 'x', '--port', '70000'], /--port: expected a port 1\.\.65535, got "70000"/],
    [['--id', 'x', '--interval', 'soon'], /--interval: expected seconds/],
    [['--id', 'x', '--keepalive', '2'], /--keepalive: expected seconds from 5/],
    [['--id', 'x', '--username', 'u'], /--username and --password-file go together/],
    [['--id', 'x', '--bogus'], /unknown argument "--bogus"/],
    [['--id', 'x', '--password-file'], /--password-file: missing value/]
  ]
  for (const [args, message] of cases) {
    const r = run(...args)
    t.equal(r.status, 2, `exit 2 for ${args.join(' ') || '(no arguments)'}`)
    t.match(r.stderr, message)
    t.equal(r.stderr.trim().split('\n').length, 1, 'one line')
  }
  const help = run('--help')
  t.equal(help.status, 0)
  t.match(help.stdout, /usage: vigil-agent --id ID/)
  t.match(run('--version').stdout, /^vigil-agent 0\.1\.0\n$/)
  const unwritable = run('--id', 'x', '--state-dir', '/proc/vigil-agent-test')
  t.equal(unwritable.status, 2)
  t.match(unwritable.stderr, /--state-dir \/proc\/vigil-agent-test: cannot create/)
})

t.test('--cafile: the agent connects over TLS, verifying the broker\'s certificate', async (t) => {
  const certs = makeCerts(t)
  const broker = await startBroker(t, { mqtt: { tls: { port: 0, cert: certs.cert, key: certs.key } } })
  const obs = await observer(t, broker, 'gw-tls')
  const agent = startAgent(t, { id: 'gw-tls', host: 'localhost', port: broker.ports.tls!, interval: 1, extra: ['--cafile', certs.cert] })
  const birth = await waitFor(() => obs.on('status')[0], 5000, 'birth over TLS')
  t.match(json(birth), { state: 'online', boot: 1 })
  agent.child.kill('SIGTERM')
  t.equal(await agent.exited, 0)

  // A CA that did not sign the broker's certificate: no connection, retried with backoff.
  const other = makeCerts(t)
  const refused = startAgent(t, { id: 'gw-tls-bad', host: 'localhost', port: broker.ports.tls!, interval: 1, extra: ['--cafile', other.cert, '--reconnect-max', '0.5'] })
  await waitFor(() => /connection lost|failed/.test(refused.stderr()) ? true : null, 5000, 'a refused TLS handshake')
  // Barrier through the agent's own retry loop: the next attempt fails too (a connection in between would have shown).
  const failures = (): number => refused.stderr().match(/connection lost|failed/g)?.length ?? 0
  const seen = failures()
  await waitFor(() => failures() > seen, 10_000, 'the next refused attempt')
  t.equal(state(broker, 'gw-tls-bad'), undefined, 'never connected')
  t.equal(refused.child.exitCode, null, 'still running, retrying')
})

t.test('with no broker the agent retries with jittered exponential backoff, or a fixed delay', async (t) => {
  const deadPort = 1  // tcpmux: a privileged port never handed out as an ephemeral one; nothing listens there
  const delays = (stderr: string) => [...stderr.matchAll(/retrying in (\d+) ms/g)].map((m) => Number(m[1]))
  const backoff = startAgent(t, { id: 'gw-backoff', port: deadPort, extra: ['--reconnect-min', '0.1', '--reconnect-max', '0.8'] })
  const fixed = startAgent(t, { id: 'gw-fixed', port: deadPort, extra: ['--reconnect-min', '0.15', '--reconnect-fixed'] })
  await waitFor(() => delays(backoff.stderr()).length >= 6 && delays(fixed.stderr()).length >= 6 ? true : null, 10_000, 'six retries each')
  const d = delays(backoff.stderr()).slice(0, 6)
  const bases = [100, 200, 400, 800, 800, 800]
  d.forEach((ms, i) => t.ok(ms >= bases[i]! / 2 && ms <= bases[i]!, `attempt ${i + 1}: ${ms} ms in [${bases[i]! / 2}, ${bases[i]}]`))
  t.same(delays(fixed.stderr()).slice(0, 6), [150, 150, 150, 150, 150, 150], 'fixed: the same delay every time')
})
