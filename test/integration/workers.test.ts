/**
 * `vigil --workers 2`: two broker processes sharing one MQTT and one HTTP port,
 * each a node of the cluster on one Redis. A real primary process, real workers,
 * a real redis-server, real clients.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { readFileSync } from 'node:fs'
import t from 'tap'
import { connectClient, waitFor } from '../helpers/clients.js'
import { startRedis } from '../helpers/redis.js'
import { envWithoutVigil, VIGIL_MAIN, withoutTapHooks } from '../helpers/vigil-process.js'
import { parsePrometheusText } from '../support/prom-text.js'
import { JSON_WILL, parse, watch } from './wills-helpers.js'
import type { Teardown } from '../support/teardown.js'
import { eventually } from '../support/wait.js'
import { freePort } from '../support/ports.js'

const DEVICES = 8

async function startPrimary (t: Teardown, vars: Record<string, string>): Promise<{ child: ChildProcess, output(): string }> {
  const child = spawn(...withoutTapHooks(process.execPath, [VIGIL_MAIN, '--workers', '2']), {
    env: { ...envWithoutVigil(), ...vars }, stdio: ['ignore', 'pipe', 'pipe']
  })
  let output = ''
  child.stdout?.on('data', (d: Buffer) => { output += d.toString() })
  child.stderr?.on('data', (d: Buffer) => { output += d.toString() })
  t.teardown(() => {
    for (const pid of workerPids(child.pid!)) { try { process.kill(pid, 'SIGKILL') } catch {} }
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
  })
  return { child, output: () => output }
}

/** The worker processes of a primary, by their index (read from their environment). */
function workers (primary: number): Map<number, number> {
  const out = new Map<number, number>()
  for (const pid of workerPids(primary)) {
    try {
      const env = readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0')
      const index = env.find((e) => e.startsWith('_VIGIL_WORKER_INDEX='))?.split('=')[1]
      if (index !== undefined) out.set(Number(index), pid)
    } catch { /* gone */ }
  }
  return out
}

function workerPids (primary: number): number[] {
  try {
    return readFileSync(`/proc/${primary}/task/${primary}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number)
  } catch {
    return []
  }
}

async function scrape (httpPort: number): Promise<ReturnType<typeof parsePrometheusText>> {
  const res = await fetch(`http://127.0.0.1:${httpPort}/metrics`)
  return parsePrometheusText(await res.text())
}

async function devices (httpPort: number, state?: string): Promise<Array<Record<string, unknown>>> {
  const res = await fetch(`http://127.0.0.1:${httpPort}/api/devices${state !== undefined ? `?state=${state}` : ''}`)
  return ((await res.json()) as { devices: Array<Record<string, unknown>> }).devices
}

t.test('two workers share the ports, report the cluster\'s sum, restart a killed worker and stop together', { timeout: 120_000 }, async (t) => {
  const redis = await startRedis(t)
  const mqttPort = await freePort()
  const httpPort = await freePort()
  const { child: primary, output } = await startPrimary(t, {
    VIGIL_NODE_ID: 'wk',
    VIGIL_PERSISTENCE_REDIS: redis.url,
    VIGIL_MQTT_PORT: String(mqttPort),
    VIGIL_MQTT_WS: 'null',
    VIGIL_HTTP_PORT: String(httpPort),
    VIGIL_WILLS_TS_UNIT: 'ms',
    VIGIL_LOG_LEVEL: 'info'
  })
  const url = `mqtt://127.0.0.1:${mqttPort}`
  await waitFor(() => (output().match(/"msg":"vigil listening"/g) ?? []).length === 2 || null, 30_000,
    'both workers listening').catch((err: Error) => { throw new Error(`${err.message}: ${output()}`) })
  t.equal(workers(primary.pid!).size, 2, 'the primary runs two worker processes')

  const watcher = await watch(t, url, ['$liveness/+', 'devices/+/status'], 'workers-watcher')
  const clients = []
  for (let i = 0; i < DEVICES; i++) {
    const client = await connectClient(t, url, {
      clientId: `wd-${i}`,
      will: { topic: `devices/wd-${i}/status`, payload: Buffer.from(JSON_WILL), qos: 1, retain: true }
    })
    await client.publishAsync(`devices/wd-${i}/heartbeat`, '{}')
    clients.push(client)
  }
  // The fleet view of each worker fills from the other's statuses through Redis: poll the API.
  let fleet: Array<Record<string, unknown>> = []
  await eventually(async () => {
    fleet = await devices(httpPort, 'online')
    return fleet.filter((d) => String(d.clientId).startsWith('wd-')).length >= DEVICES
  }, 20_000, 100)
  const ours = fleet.filter((d) => String(d.clientId).startsWith('wd-'))
  t.equal(ours.length, DEVICES, 'the API on the shared port lists every device, whichever worker holds it')
  const nodes = new Set(ours.map((d) => d.node))
  t.same([...nodes].sort(), ['wk-1', 'wk-2'], 'connections were spread over both workers, named <node.id>-<k>')
  for (let i = 0; i < 4; i++) {
    const again = (await devices(httpPort, 'online')).filter((d) => String(d.clientId).startsWith('wd-'))
    t.equal(again.length, DEVICES, `request ${i + 1}: same fleet from whichever worker answered`)
  }

  const metrics = await scrape(httpPort)
  t.equal(metrics.value('vigil_clients_connected'), DEVICES + 1, 'vigil_clients_connected is the sum over the workers')
  t.equal(metrics.value('vigil_connections_total', { result: 'accepted' }), DEVICES + 1, 'counters are summed')
  t.equal(metrics.value('vigil_messages_received_total', { qos: '0' }), DEVICES, 'every heartbeat counted once')
  const listedOnline = (await devices(httpPort, 'online')).length
  t.equal(metrics.value('vigil_devices', { state: 'online' }), listedOnline,
    'vigil_devices (the fleet view every worker holds) is reported once, not once per worker')

  // SIGKILL the worker holding wd-0: its clients die with it; the primary restarts it under the same id.
  const victimNode = ours.find((d) => d.clientId === 'wd-0')!.node as string
  const victimIndex = Number(victimNode.split('-')[1])
  const victimPid = workers(primary.pid!).get(victimIndex)!
  const lost = ours.filter((d) => d.node === victimNode).map((d) => d.clientId as string)
  process.kill(victimPid, 'SIGKILL')
  const killedAt = Date.now()
  const wills = (): typeof watcher.received => watcher.received.filter((m) => m.topic.startsWith('devices/wd-') && !m.retain)
  await waitFor(() => wills().length >= lost.length || null, 20_000, `${lost.length} wills of the killed worker's clients`)
  const offline = (): typeof watcher.received => watcher.received.filter((m) => m.topic.startsWith('$liveness/wd-') &&
    parse(m.payload).state === 'offline')
  await waitFor(() => offline().length >= lost.length || null, 20_000, 'their offline statuses')
  t.comment(`killed worker: ${lost.length} wills and statuses ${Date.now() - killedAt} ms after SIGKILL`)
  await waitFor(() => workers(primary.pid!).get(victimIndex) !== undefined && workers(primary.pid!).get(victimIndex) !== victimPid,
    10_000, 'the restarted worker')

  // Barrier: a message published after the recovery, through the same broker, arrives after any duplicate would.
  const late = await connectClient(t, url, { clientId: 'wd-barrier' })
  await late.publishAsync('devices/wd-barrier/status', 'barrier', { qos: 1 })
  await waitFor(() => watcher.received.some((m) => m.topic === 'devices/wd-barrier/status'), 10_000, 'the barrier')
  const got = wills().filter((m) => m.topic !== 'devices/wd-barrier/status')
  t.same(got.map((m) => m.topic).sort(), lost.map((id) => `devices/${id}/status`).sort(), 'each will of the killed worker exactly once')
  t.ok(got.every((m) => parse(m.payload).reason === 'node_lost'), 'stamped node_lost')
  const statuses = offline().map((m) => parse(m.payload))
  t.same(statuses.map((s) => s.clientId).sort(), [...lost].sort(), 'one offline status per lost client')
  t.ok(statuses.every((s) => s.reason === 'node_lost'), 'reason node_lost')
  t.ok(primary.exitCode === null, 'the primary kept running')

  // SIGTERM to the primary: every worker shuts down (server_shutdown), then the primary exits 0.
  const stoppedAt = Date.now()
  const exited = new Promise<number | null>((resolve) => primary.once('exit', (code) => resolve(code)))
  primary.kill('SIGTERM')
  const code = await exited
  t.equal(code, 0, 'the primary exits 0')
  t.ok(Date.now() - stoppedAt < 10_000, `within 10 s (${Date.now() - stoppedAt} ms)`)
  t.same(workerPids(primary.pid!), [], 'no worker is left behind')
  const shutdown = watcher.received.filter((m) => m.topic.startsWith('$liveness/wd-') && parse(m.payload).reason === 'server_shutdown')
  t.ok(shutdown.length >= DEVICES - lost.length, `the surviving clients went offline with server_shutdown (${shutdown.length})`)
})

t.test('more than one worker without persistence.redis is refused with exit code 2', async (t) => {
  const child = spawn(...withoutTapHooks(process.execPath, [VIGIL_MAIN, '--workers', '2']), {
    env: { ...envWithoutVigil(), VIGIL_MQTT_PORT: '0', VIGIL_MQTT_WS: 'null', VIGIL_HTTP: 'null' }, stdio: ['ignore', 'ignore', 'pipe']
  })
  let stderr = ''
  child.stderr?.on('data', (d: Buffer) => { stderr += d.toString() })
  const code = await new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c)))
  t.equal(code, 2)
  t.match(stderr, /cluster\.workers/, 'names the key')
  t.match(stderr, /persistence\.redis/, 'says what to set')
})
