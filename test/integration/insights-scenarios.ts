/**
 * Device insights (issue 18) against a real broker with every default plugin,
 * real mqtt.js devices and real mosquitto_sub observers, in memory mode
 * (insights.test.ts) and Redis mode (insights-redis.test.ts).
 */
import { spawn, type ChildProcess } from 'node:child_process'
import type { IClientOptions, MqttClient } from 'mqtt'
import type { VigilConfigInput } from '../../config/schema.js'
import type { ClientStatus } from '../../plugins/liveness/service.js'
import { startBroker, type TestBroker } from '../helpers/broker.js'
import { collect, connectClient, subscribe, waitFor } from '../helpers/clients.js'
import { deepMerge } from '../helpers/config.js'
import { startRedis } from '../helpers/redis.js'
import { parsePrometheusText } from '../support/prom-text.js'

type Tap = typeof import('tap').default
import type { Teardown } from '../support/teardown.js'
import { retainedBarrier } from '../support/retained.js'
type T = Teardown
export type Mode = 'memory' | 'redis'

export async function startInsights (t: T, mode: Mode, override: VigilConfigInput = {}, redisUrl?: string): Promise<TestBroker> {
  const url = mode === 'redis' ? redisUrl ?? (await startRedis(t)).url : null
  return await startBroker(t, deepMerge<VigilConfigInput>(url !== null ? { persistence: { redis: url } } : {}, override), { heartbeatInterval: 500 })
}

export async function api<B = Record<string, unknown>> (broker: TestBroker, url: string): Promise<{ status: number, body: B }> {
  const res = await broker.http.inject({ url })
  return { status: res.statusCode, body: res.json() as B }
}

export async function metric (broker: TestBroker, name: string, labels?: Record<string, string>): Promise<number | undefined> {
  const res = await broker.http.inject({ url: '/metrics' })
  return parsePrometheusText(res.body).value(name, labels)
}

/** A device as section 8 of the protocol has it: a will on its status topic, then a birth. */
export async function device (t: T, broker: TestBroker, id: string, birth: Record<string, unknown> | null, options: IClientOptions = {}): Promise<MqttClient> {
  const client = await connectClient(t, broker.url, {
    clientId: id,
    will: { topic: `devices/${id}/status`, payload: Buffer.from('{"state":"offline","ts":0}'), qos: 1, retain: true },
    ...options
  })
  if (birth !== null) await client.publishAsync(`devices/${id}/status`, JSON.stringify({ state: 'online', ts: 0, ...birth }), { qos: 1, retain: true })
  return client
}

const status = (broker: TestBroker, id: string): ClientStatus | undefined => broker.services.need('liveness').get(id)

/** Wait until the fleet view's status of `id` satisfies `predicate`. */
export async function until (broker: TestBroker, id: string, predicate: (s: ClientStatus) => boolean, what: string, ms = 5000): Promise<ClientStatus> {
  return await waitFor(() => { const s = status(broker, id); return s !== undefined && predicate(s) ? s : undefined }, ms, `${id}: ${what}`)
}

/** A real mosquitto_sub, killed with the test; resolves once it is connected (its status is out). */
export function mosquittoSub (t: T, broker: TestBroker, id: string, args: string[] = []): ChildProcess {
  const child = spawn('mosquitto_sub', ['-h', '127.0.0.1', '-p', String(broker.ports.mqtt), '-i', id, '-t', 'site/#', ...args], { stdio: ['ignore', 'pipe', 'pipe'] })
  t.teardown(() => { if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL') })
  return child
}

export function insightScenarios (tap: Tap, mode: Mode): void {
  tap.test(`[${mode}] the birth gives fw; a boot counter that changed is a reboot (restarts, lastRestart, metric); address is the remote IP`, async (t) => {
    const broker = await startInsights(t, mode)
    const first = await device(t, broker, 'boot-1', { fw: '1.2.3', boot: 41 })
    const known = await until(broker, 'boot-1', (s) => s.fw === '1.2.3', 'fw from the birth')
    t.equal(known.restarts, 0, 'the first boot counter is a baseline, not a reboot')
    t.equal(known.lastRestart, null)
    t.equal(known.address, '127.0.0.1')
    t.equal(known.clockSkewMs, null, 'no heartbeat ts yet')
    t.equal(known.flapping, false)
    await first.endAsync()
    await until(broker, 'boot-1', (s) => s.state === 'offline', 'offline')
    t.equal(status(broker, 'boot-1')?.fw, '1.2.3', 'the offline status keeps what is known')
    const rebootedAt = Date.now()
    await device(t, broker, 'boot-1', { fw: '1.3.0', boot: 42 })
    const rebooted = await until(broker, 'boot-1', (s) => s.restarts === 1, 'one reboot')
    t.equal(rebooted.fw, '1.3.0', 'the new firmware')
    t.ok(rebooted.lastRestart! >= rebootedAt - 50 && rebooted.lastRestart! <= Date.now(), 'lastRestart is when the birth came')
    t.equal(await metric(broker, 'vigil_device_restarts_total'), 1)
    const watcher = await connectClient(t, broker.url, { clientId: 'boot-watch' })
    const seen = collect(watcher)
    await subscribe(watcher, '$liveness/boot-1', 1)
    const retained = await waitFor(() => seen.find((m) => m.retain), 3000, 'the retained status')
    const onTopic = JSON.parse(retained.payload.toString()) as ClientStatus
    t.equal(onTopic.restarts, 1, 'the status topic carries restarts')
    t.equal(onTopic.fw, '1.3.0', 'and fw')
    t.equal(onTopic.address, '127.0.0.1', 'and the address')
    const again = await device(t, broker, 'boot-1', { fw: '1.3.0', boot: 42 })
    await until(broker, 'boot-1', (s) => s.epoch === rebooted.epoch + 1, 'reconnected')
    await again.publishAsync('devices/boot-1/status', '{"state":"online","ts":0,"fw":"1.3.0","boot":42}', { qos: 1 })
    t.equal(status(broker, 'boot-1')?.restarts, 1, 'a reconnect with the same boot counter is no reboot')
  })

  tap.test(`[${mode}] heartbeat uptime going backwards is a reboot, dated uptime seconds ago`, async (t) => {
    const broker = await startInsights(t, mode)
    const before = await device(t, broker, 'up-1', null)
    await before.publishAsync('devices/up-1/heartbeat', '{"ts":0,"uptime":3600,"heartbeat_interval":60}', { qos: 1 })
    await before.publishAsync('devices/up-1/heartbeat', '{"ts":0,"uptime":3660,"heartbeat_interval":60}', { qos: 1 })
    await before.publishAsync('devices/up-1/telemetry', '{"uptime":1}', { qos: 1 })
    t.equal(status(broker, 'up-1')?.restarts, 0, 'growing uptime, and an uptime on another topic: no reboot')
    before.stream.destroy()
    await until(broker, 'up-1', (s) => s.state === 'offline', 'offline')
    const after = await device(t, broker, 'up-1', null)
    const sent = Date.now()
    await after.publishAsync('devices/up-1/heartbeat', '{"ts":0,"uptime":7,"heartbeat_interval":60}', { qos: 1 })
    const rebooted = await until(broker, 'up-1', (s) => s.restarts === 1, 'a reboot')
    t.ok(Math.abs(rebooted.lastRestart! - (sent - 7000)) < 1000, `lastRestart ${rebooted.lastRestart! - sent} ms from the heartbeat, about -7000`)
    await after.publishAsync('devices/up-1/heartbeat', '{"ts":0,"uptime":67,"heartbeat_interval":60}', { qos: 1 })
    await after.publishAsync('devices/up-1/status', '{"state":"online","ts":0,"boot":1}', { qos: 1 })
    t.equal(status(broker, 'up-1')?.restarts, 1, 'uptime growing, and a first boot counter (a baseline): no more reboots')
    await after.publishAsync('devices/up-1/heartbeat', '{"ts":0,"uptime":2,"heartbeat_interval":60}', { qos: 1 })
    await until(broker, 'up-1', (s) => s.restarts === 2, 'uptime backwards again: a second reboot')
    t.equal(await metric(broker, 'vigil_device_restarts_total'), 2)
  })

  tap.test(`[${mode}] a device clock 120 s ahead: clockSkewMs about 120000, counted as skewed, in the histogram`, async (t) => {
    const broker = await startInsights(t, mode)
    const ahead = await device(t, broker, 'skew-1', { fw: '2.0.0', boot: 1 })
    const exact = await device(t, broker, 'skew-2', { fw: '2.0.0', boot: 1 })
    for (let i = 0; i < 3; i++) {
      await ahead.publishAsync('devices/skew-1/heartbeat', JSON.stringify({ ts: Math.floor(Date.now() / 1000) + 120, uptime: 10 + i, heartbeat_interval: 30 }), { qos: 1 })
      await exact.publishAsync('devices/skew-2/heartbeat', JSON.stringify({ ts: Date.now(), uptime: 10 + i, heartbeat_interval: 30 }), { qos: 1 })
    }
    const skewed = await until(broker, 'skew-1', (s) => typeof s.clockSkewMs === 'number', 'a skew')
    t.ok(Math.abs(skewed.clockSkewMs! - 120_000) <= 1500, `clockSkewMs ${skewed.clockSkewMs} (ts in seconds)`)
    const fine = await until(broker, 'skew-2', (s) => typeof s.clockSkewMs === 'number', 'a skew')
    t.ok(Math.abs(fine.clockSkewMs!) <= 500, `a ts in ms from a synced clock: ${fine.clockSkewMs} ms`)
    const fleet = await api<{ skewed: number, firmware: Record<string, number> }>(broker, '/api/fleet')
    t.equal(fleet.body.skewed, 1, 'one device over 60 s')
    t.equal(fleet.body.firmware['2.0.0'], 2)
    t.equal(await metric(broker, 'vigil_clock_skew_seconds_count'), 6, 'every heartbeat with a usable ts observed')
    t.equal(await metric(broker, 'vigil_clock_skew_seconds_bucket', { le: '60' }), 3, 'three under a minute')
    const none = await device(t, broker, 'skew-3', null)
    await none.publishAsync('devices/skew-3/heartbeat', '{"ts":0,"uptime":5}', { qos: 1 })
    await none.publishAsync('devices/skew-3/heartbeat', '{"ts":1000,"uptime":6}', { qos: 1 })
    t.equal(status(broker, 'skew-3')?.clockSkewMs, null, 'ts 0, or a clock not set: null')
  })

  tap.test(`[${mode}] 6 connects within a minute is flapping: on the status, in /api/fleet and vigil_devices_flapping`, async (t) => {
    const broker = await startInsights(t, mode)
    t.equal(await metric(broker, 'vigil_devices_flapping'), 0, 'present at 0 from start-up')
    let last: MqttClient | null = null
    for (let i = 1; i <= 6; i++) {
      last?.stream.destroy()
      last = await device(t, broker, 'flap-1', { fw: '1.0.0', boot: 5 })
      await until(broker, 'flap-1', (s) => s.state === 'online' && s.epoch === i, `connect ${i}`)
    }
    const flapping = await until(broker, 'flap-1', (s) => s.flapping === true, 'flapping')
    t.equal(flapping.state, 'online')
    t.equal(flapping.restarts, 0, 'reconnects with the same boot counter are no reboots')
    const steady = await device(t, broker, 'steady-1', null)
    await steady.publishAsync('devices/steady-1/heartbeat', '{"uptime":1}', { qos: 1 })
    t.equal((await api<{ flapping: boolean }>(broker, '/api/devices/steady-1')).body.flapping, false)
    t.equal((await api<{ flapping: number }>(broker, '/api/fleet')).body.flapping, 1)
    t.equal(await metric(broker, 'vigil_devices_flapping'), 1)
    t.equal((await api<{ flapping: boolean }>(broker, '/api/devices/flap-1')).body.flapping, true)
  })

  tap.test(`[${mode}] observers (mosquitto_sub) never go silent, are counted nowhere, leave no status; a heartbeat promotes; a rule wins`, async (t) => {
    const broker = await startInsights(t, mode, { liveness: { silentAfter: 1, rules: [{ clients: 'ruled-*' }] } })
    const lateWatch = await connectClient(t, broker.url, { clientId: 'obs-check', will: { topic: 'x/obs-check', payload: Buffer.from('x'), qos: 0, retain: false } })
    mosquittoSub(t, broker, 'watch-a')
    mosquittoSub(t, broker, 'watch-b')
    mosquittoSub(t, broker, 'ruled-1')
    await until(broker, 'watch-a', (s) => s.kind === 'observer', 'an observer')
    await until(broker, 'watch-b', (s) => s.kind === 'observer', 'an observer')
    const ruled = await until(broker, 'ruled-1', (s) => s.state === 'online', 'online')
    t.equal(ruled.kind, 'device', 'a rule names it: a device, will or not')
    // The barrier: a device connected after them goes silent, so the sweep has passed them by.
    await device(t, broker, 'barrier-1', null)
    await until(broker, 'barrier-1', (s) => s.state === 'silent', 'silent', 4000)
    await until(broker, 'ruled-1', (s) => s.state === 'silent', 'silent', 4000)
    t.equal(status(broker, 'watch-a')?.state, 'online', 'observer a never went silent')
    t.equal(status(broker, 'watch-b')?.state, 'online', 'observer b never went silent')
    t.equal(await metric(broker, 'vigil_devices', { state: 'silent' }), 3, 'barrier-1, ruled-1 and obs-check (a will: a device)')
    t.equal(await metric(broker, 'vigil_devices', { state: 'online' }), 0, 'observers are not in vigil_devices')
    const defaultList = await api<{ devices: ClientStatus[] }>(broker, '/api/devices')
    t.same(defaultList.body.devices.map((s) => s.clientId), ['barrier-1', 'obs-check', 'ruled-1'], 'the default listing is devices only')
    const observers = await api<{ devices: ClientStatus[] }>(broker, '/api/devices?kind=observer')
    t.same(observers.body.devices.map((s) => s.clientId), ['watch-a', 'watch-b'])
    t.equal(observers.body.devices[0]!.address, '127.0.0.1')
    t.equal((await api<{ devices: unknown[] }>(broker, '/api/devices?kind=all')).body.devices.length, 5)
    t.equal((await api(broker, '/api/devices?kind=robot')).status, 400)
    const fleet = await api<{ observers: number, devices: number }>(broker, '/api/fleet')
    t.equal(fleet.body.observers, 2)
    t.equal(fleet.body.devices, 3)
    t.equal(await metric(broker, 'vigil_liveness_transitions_total', { from: 'none', to: 'online' }), 3, 'observer transitions are not counted')

    // A one-shot mosquitto_sub -C 1 leaves nothing behind: no retained status, nothing in the API.
    await lateWatch.publishAsync('site/news', 'hello', { qos: 1, retain: true })
    const oneShot = mosquittoSub(t, broker, 'once-1', ['-C', '1'])
    const output = await new Promise<string>((resolve) => {
      let out = ''
      oneShot.stdout!.on('data', (d: Buffer) => { out += d.toString() })
      oneShot.once('exit', () => resolve(out))
    })
    t.equal(output.trim(), 'hello', 'mosquitto_sub -C 1 got its message and left')
    await waitFor(() => status(broker, 'once-1') === undefined, 3000, 'once-1 forgotten')
    const late = await connectClient(t, broker.url, { clientId: 'late-sub' })
    const retained = collect(late)
    await subscribe(late, ['$liveness/once-1', '$liveness/barrier-1'], 1)
    await waitFor(() => retained.find((m) => m.topic === '$liveness/barrier-1'), 3000, 'the barrier device\'s retained status')
    await retainedBarrier(broker, late, retained)
    t.same(retained.filter((m) => m.topic === '$liveness/once-1'), [], 'no retained status for the one-shot observer')
    t.equal((await api(broker, '/api/devices/once-1')).status, 404)

    // Its first heartbeat makes an observer a device.
    const promoted = await connectClient(t, broker.url, { clientId: 'dash-1' })
    const before = await until(broker, 'dash-1', (s) => s.kind === 'observer', 'an observer')
    await promoted.publishAsync('devices/dash-1/heartbeat', '{"uptime":1}', { qos: 1 })
    const after = await until(broker, 'dash-1', (s) => s.kind === 'device', 'a device')
    t.equal(after.epoch, before.epoch, 'the same connection')
    t.equal(after.since, before.since, 'online since it connected')
    t.equal(await metric(broker, 'vigil_liveness_transitions_total', { from: 'none', to: 'online' }), 4, 'it appears as a device once')
    await until(broker, 'dash-1', (s) => s.state === 'silent', 'silent once it stops', 4000)
  })

  tap.test(`[${mode}] history and availability: every transition, since filters, unknown is 404`, async (t) => {
    const broker = await startInsights(t, mode, { liveness: { silentAfter: 1 } })
    const started = Date.now()
    const d = await device(t, broker, 'hist-1', { fw: '1.0.0', boot: 1 })
    await until(broker, 'hist-1', (s) => s.state === 'silent', 'silent', 4000)
    await d.publishAsync('devices/hist-1/heartbeat', '{"uptime":5}', { qos: 1 })
    await until(broker, 'hist-1', (s) => s.state === 'online' && s.since > started + 500, 'online again')
    await d.endAsync()
    const off = await until(broker, 'hist-1', (s) => s.state === 'offline', 'offline')
    type H = { transitions: Array<{ state: string, reason: string | null, at: number, epoch: number, node: string }> }
    const history = await api<H>(broker, '/api/devices/hist-1/history')
    t.equal(history.status, 200)
    t.same(history.body.transitions.map((e) => [e.state, e.reason]), [['online', null], ['silent', null], ['online', null], ['offline', 'graceful']])
    t.ok(history.body.transitions.every((e) => e.epoch === off.epoch && e.node === broker.nodeId), 'epoch and node of each')
    t.equal(history.body.transitions.at(-1)!.at, off.since)
    const since = history.body.transitions[2]!.at
    t.same((await api<H>(broker, `/api/devices/hist-1/history?since=${since}`)).body.transitions.map((e) => e.state), ['online', 'offline'])
    t.equal((await api(broker, '/api/devices/hist-1/history?since=soon')).status, 400)
    t.equal((await api(broker, '/api/devices/nobody/history')).status, 404)
    const one = await api<{ availability: Record<string, number> }>(broker, '/api/devices/hist-1')
    const a = one.body.availability
    t.ok(a['1h']! > 0 && a['1h']! < 1, `availability ${a['1h']}: online, then silent, then online, now offline`)
    t.equal(a['1h'], a['7d'], 'first seen within the hour: every window starts then')
    const watcher = await connectClient(t, broker.url, { clientId: 'hist-watch' })
    await until(broker, 'hist-watch', (s) => s.kind === 'observer', 'an observer')
    t.equal((await api(broker, '/api/devices/hist-watch/history')).status, 200, 'an observer is known (no transitions)')
    t.same((await api<H>(broker, '/api/devices/hist-watch/history')).body.transitions, [], 'observers have no history')
    await watcher.endAsync()
  })
}
