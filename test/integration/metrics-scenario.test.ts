import type { Socket } from 'node:net'
import t from 'tap'
import type { MqttClient } from 'mqtt'
import { defaultPlugins } from '../../plugins/index.js'
import type { ClientStatus } from '../../plugins/liveness/service.js'
import { startBroker, type TestBroker } from '../helpers/broker.js'
import { connectClient, waitFor } from '../helpers/clients.js'
import { simDevice, type SimDevice } from '../support/device.js'
import { parsePrometheusText, type Scrape } from '../support/prom-text.js'
import { eventually } from '../support/wait.js'

/** Every metric name of docs/metrics.md, with the plugin that owns it. */
const CONTRACT_METRICS: Array<[string, string]> = [
  ['vigil_clients_connected', 'core'], ['vigil_connections_total', 'core'], ['vigil_plugin_errors_total', 'core'],
  ['vigil_devices', 'liveness'], ['vigil_liveness_transitions_total', 'liveness'], ['vigil_heartbeat_interval_seconds', 'liveness'],
  ['vigil_wills_published_total', 'wills'], ['vigil_wills_suppressed_total', 'wills'],
  ['vigil_retained_messages', 'retained'], ['vigil_retained_expired_total', 'retained'],
  ['vigil_messages_received_total', 'metrics'], ['vigil_messages_delivered_total', 'metrics'],
  ['vigil_bytes_received_total', 'metrics'], ['vigil_bytes_sent_total', 'metrics'],
  ['vigil_commands_total', 'commands'], ['vigil_command_ack_seconds', 'commands']
]

/** What the test clients themselves saw: PUBLISHes sent and received, by QoS. */
class Tally {
  sent = [0, 0, 0]
  received = [0, 0, 0]
  readonly sockets: Socket[] = []
  watch (client: MqttClient): MqttClient {
    client.on('packetsend', (p) => { if (p.cmd === 'publish') this.sent[p.qos ?? 0]!++ })
    client.on('message', (_topic, _payload, p) => { this.received[p.qos]!++ })
    this.sockets.push((client as unknown as { stream: Socket }).stream)
    return client
  }

  bytesWritten (): number { return this.sockets.reduce((sum, s) => sum + s.bytesWritten, 0) }
  bytesRead (): number { return this.sockets.reduce((sum, s) => sum + s.bytesRead, 0) }
}

async function scrape (broker: TestBroker): Promise<Scrape> {
  const res = await broker.http.inject({ url: '/metrics' })
  return parsePrometheusText(res.body)
}

const qos = (s: Scrape, name: string): number[] => ['0', '1', '2'].map((q) => s.value(name, { qos: q }) ?? NaN)

t.test('a scripted fleet moves every counter by exactly the expected amounts, and the API agrees with $liveness at each step', async (t) => {
  const N = 4
  const M = 7
  const broker = await startBroker(t, {
    // The sim devices have no will: a rule makes them devices from their CONNECT (else observers until they publish).
    liveness: { rules: [{ clients: 'quiet-*', silentAfter: '1s' }, { clients: 'dev-*' }] },
    commands: { timeout: '400ms', retries: 0 }
  })
  const start = await scrape(broker)
  t.same(defaultPlugins.map((p) => p.name).filter((n) => ['liveness', 'wills', 'retained', 'commands', 'metrics'].includes(n)).sort(),
    ['commands', 'liveness', 'metrics', 'retained', 'wills'], 'every plugin owning a contract metric is registered')
  for (const [name, owner] of CONTRACT_METRICS) t.ok(start.types.has(name), `${name} (${owner}) is exposed from start-up`)
  t.ok(start.types.has('process_cpu_user_seconds_total') && start.types.has('nodejs_heap_size_used_bytes'), 'Node default metrics are included')
  t.same(qos(start, 'vigil_messages_received_total'), [0, 0, 0])
  t.same(qos(start, 'vigil_messages_delivered_total'), [0, 0, 0])

  const tally = new Tally()
  // The observer holds the retained statuses the API must agree with ($liveness/+ does not start with a wildcard).
  // It is an observer (no will, never publishes): not a device, not counted in vigil_devices.
  const statuses = new Map<string, ClientStatus>()
  const observer = tally.watch(await connectClient(t, broker.url, { clientId: 'observer' }))
  observer.on('message', (topic, payload) => {
    if (topic.startsWith('$liveness/') && payload.length > 0) statuses.set(topic.slice('$liveness/'.length), JSON.parse(payload.toString()))
  })
  await observer.subscribeAsync('$liveness/+', { qos: 1 })

  const agrees = async (what: string): Promise<void> => {
    let last = ''
    try {
      await waitFor(async () => {
        const api = (await broker.http.inject({ url: '/api/devices' })).json().devices as ClientStatus[]
        const fromTopic = [...statuses.values()].sort((a, b) => a.clientId < b.clientId ? -1 : 1)
        last = JSON.stringify({ api, fromTopic })
        return JSON.stringify(api) === JSON.stringify(fromTopic)
      }, 5000, 'agreement', 25)
      t.pass(`/api/devices agrees with the retained $liveness statuses: ${what}`)
    } catch {
      t.fail(`/api/devices disagrees with $liveness: ${what}: ${last}`)
    }
  }
  const byState = async (): Promise<Record<string, string>> => Object.fromEntries(
    ((await broker.http.inject({ url: '/api/devices' })).json().devices as ClientStatus[]).map((d) => [d.clientId, d.state]))

  // Step 1: N devices connect. dev-0 acks commands, dev-1 never does.
  const devices: SimDevice[] = []
  for (let i = 0; i < N; i++) {
    const id = i === 2 ? 'quiet-2' : `dev-${i}`
    const device = await simDevice(t, broker.url, id, () => i === 1 ? null : [{ status: 'ok', result: { i } }])
    tally.watch(device.client)
    devices.push(device)
  }
  await waitFor(() => statuses.size === N, 3000, 'every status retained')
  await agrees(`${N} devices online`)
  const connected = await scrape(broker)
  t.equal(connected.value('vigil_connections_total', { result: 'accepted' }), N + 1, 'one accepted connection per client')
  t.equal(connected.value('vigil_clients_connected'), N + 1)
  t.equal(connected.value('vigil_devices', { state: 'online' }), N, 'the observer is not a device')

  // Step 2: M application publishes that nobody subscribes to.
  for (let i = 0; i < M; i++) await devices[i % N]!.client.publishAsync(`devices/${devices[i % N]!.client.options.clientId}/heartbeat`, `{"n":${i}}`, { qos: i % 2 === 0 ? 0 : 1 })

  // Step 3: one device falls silent (its rule: 1 s), within the bound of silentAfter + 1 s.
  const silentSince = Date.now()
  await waitFor(async () => (await byState())['quiet-2'] === 'silent', 1000 + 1000 + 1000, 'quiet-2 silent')
  t.ok(Date.now() - silentSince <= 1000 + 1000 + 1000, 'silent within silentAfter + 1 s (+ 1 s test margin)')
  await agrees('quiet-2 silent')

  // Step 4: one device drops without DISCONNECT.
  ;(devices[3]!.client as unknown as { stream: Socket }).stream.destroy()
  await waitFor(async () => (await byState())['dev-3'] === 'offline', 2000, 'dev-3 offline')
  await agrees('dev-3 offline (connection_lost)')
  t.equal(broker.services.need('liveness').get('dev-3')?.reason, 'connection_lost')

  // Step 5: one command acked, one timed out.
  const acked = await broker.http.inject({ method: 'POST', url: '/api/devices/dev-0/commands', payload: { command: 'reboot' } })
  t.equal(acked.statusCode, 200)
  t.match(acked.json(), { status: 'acked', attempts: 1 })
  const timedOut = await broker.http.inject({ method: 'POST', url: '/api/devices/dev-1/commands', payload: { command: 'reboot' } })
  t.equal(timedOut.statusCode, 504)
  const offline = await broker.http.inject({ method: 'POST', url: '/api/devices/dev-3/commands', payload: { command: 'reboot' } })
  t.equal(offline.statusCode, 409)
  await agrees('after the commands')

  // The counters catch up with the last packets a moment after the clients saw them.
  await eventually(async () => {
    const s = await scrape(broker)
    return JSON.stringify(qos(s, 'vigil_messages_received_total')) === JSON.stringify(tally.sent) &&
      JSON.stringify(qos(s, 'vigil_messages_delivered_total')) === JSON.stringify(tally.received) &&
      s.value('vigil_bytes_received_total') === tally.bytesWritten() && s.value('vigil_bytes_sent_total') === tally.bytesRead()
  }, 10_000)
  const end = await scrape(broker)
  t.same(qos(end, 'vigil_messages_received_total'), tally.sent, `received = what the clients published (${tally.sent})`)
  t.equal(tally.sent[0]! + tally.sent[1]!, M + 1, 'M heartbeats and one ack')
  t.same(qos(end, 'vigil_messages_delivered_total'), tally.received, `delivered = what the clients received (${tally.received})`)
  t.equal(end.value('vigil_bytes_received_total'), tally.bytesWritten(), 'bytes received = bytes the clients wrote')
  t.equal(end.value('vigil_bytes_sent_total'), tally.bytesRead(), 'bytes sent = bytes the clients read')
  t.equal(end.value('vigil_commands_total', { outcome: 'acked' }), 1)
  t.equal(end.value('vigil_commands_total', { outcome: 'timeout' }), 1)
  t.equal(end.value('vigil_commands_total', { outcome: 'failed' }), 0)
  t.equal(end.value('vigil_commands_total', { outcome: 'rejected_offline' }), 1)
  t.equal(end.value('vigil_command_ack_seconds_count'), 1)
  t.equal(end.value('vigil_liveness_transitions_total', { from: 'online', to: 'silent' }), 1, 'one online -> silent')
  t.equal(end.value('vigil_liveness_transitions_total', { from: 'online', to: 'offline' }), 1, 'one online -> offline')
  t.same(['online', 'silent', 'offline'].map((state) => end.value('vigil_devices', { state })), [N - 2, 1, 1], 'vigil_devices agrees (the observer not counted)')
  t.equal(end.value('vigil_clients_connected'), N)
  t.equal(end.value('vigil_plugin_errors_total', { plugin: 'metrics' }), 0)
})
