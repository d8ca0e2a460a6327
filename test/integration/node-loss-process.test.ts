/**
 * Real node loss (issue 11, part 3): three `vigil` processes on one Redis, 200
 * clients with wills on one of them, which is SIGKILLed. The survivors must
 * publish each client's `$liveness` offline status (reason node_lost) and its
 * will exactly once, both stamped with the lost node's last heartbeat, within
 * 15 s; the HTTP API of a survivor must say offline.
 *
 * Every node is a child process from dist/ (built by `npm test`'s pretest), so
 * nothing is shared in memory: the survivors only know what came through Redis.
 */
import { existsSync } from 'node:fs'
import t from 'tap'
import { sysReadableAcl } from '../helpers/auth.js'
import { connectClient, waitFor } from '../helpers/clients.js'
import { startRedis } from '../helpers/redis.js'
import { startVigilProcess, VIGIL_MAIN } from '../helpers/vigil-process.js'
import { JSON_WILL, parse, watch } from './wills-helpers.js'
import { freePort } from '../support/ports.js'

const CLIENTS = 200

async function node (t: Parameters<typeof startVigilProcess>[0], id: string, redisUrl: string, acl: string): Promise<{ url: string, http: number, child: Awaited<ReturnType<typeof startVigilProcess>>['child'] }> {
  const http = await freePort()
  const started = await startVigilProcess(t, {
    VIGIL_NODE_ID: id,
    VIGIL_PERSISTENCE_REDIS: redisUrl,
    VIGIL_MQTT_PORT: String(await freePort()),
    VIGIL_MQTT_WS: 'null',
    VIGIL_HTTP_PORT: String(http),
    VIGIL_WILLS_TS_UNIT: 'ms',
    VIGIL_LOG_LEVEL: 'warn',
    // The watcher reads the victim's heartbeats: $SYS needs an ACL grant for anonymous clients.
    VIGIL_AUTH_ACL_FILE: acl
  })
  return { url: started.url, http, child: started.child }
}

t.test('a SIGKILLed node: every client\'s offline status (node_lost) and will arrive exactly once within 15 s, stamped with its last heartbeat', { timeout: 90_000 }, async (t) => {
  if (!existsSync(VIGIL_MAIN)) t.fail(`${VIGIL_MAIN} is missing: build with npx tsc -p tsconfig.json`)
  const redis = await startRedis(t)
  const acl = sysReadableAcl(t)
  const [a, b, c] = await Promise.all(['nl-a', 'nl-b', 'nl-c'].map(async (id) => await node(t, id, redis.url, acl)))
  const watcher = await watch(t, b!.url, ['devices/+/status', '$liveness/+', '$SYS/nl-a/heartbeat'])
  const wc = await watch(t, c!.url, ['devices/+/status', '$liveness/+'])
  const ids = Array.from({ length: CLIENTS }, (_v, i) => `dev-${i}`)
  // 25 at a time: a loaded test machine must not turn this into a CONNACK timeout test.
  for (let i = 0; i < ids.length; i += 25) {
    await Promise.all(ids.slice(i, i + 25).map(async (id) => {
      const client = await connectClient(t, a!.url, {
        clientId: id,
        connectTimeout: 15_000,
        will: { topic: `devices/${id}/status`, payload: Buffer.from(JSON_WILL), qos: 1, retain: true }
      })
      await client.publishAsync(`devices/${id}/telemetry`, '{"hb":1}', { qos: 1 })
    }))
  }
  const online = (w: typeof watcher): number => new Set(w.received
    .filter((m) => m.topic.startsWith('$liveness/dev-') && parse(m.payload).state === 'online')
    .map((m) => m.topic)).size
  await waitFor(() => online(watcher) === CLIENTS && online(wc) === CLIENTS, 20_000, `${CLIENTS} online statuses on both survivors`)
    .catch((err: Error) => { throw new Error(`${err.message}: ${online(watcher)} and ${online(wc)} (${watcher.received.length} messages, ${watcher.received.slice(0, 3).map((m) => m.topic + ' ' + m.payload.toString()).join(' | ')})`) })
  await waitFor(() => watcher.received.some((m) => m.topic === '$SYS/nl-a/heartbeat'), 10_000, 'a heartbeat of the victim')
  const before = watcher.received.length
  const beforeC = wc.received.length

  a!.child.kill('SIGKILL')
  const killedAt = Date.now()
  const beats = watcher.received.filter((m) => m.topic === '$SYS/nl-a/heartbeat')
  const lastBeat = beats[beats.length - 1]!.at

  const after = (w: typeof watcher, from: number) => w.received.slice(from).filter((m) => !m.retain)
  const offline = (w: typeof watcher, from: number) => after(w, from).filter((m) => m.topic.startsWith('$liveness/dev-') && parse(m.payload).state === 'offline')
  const wills = (w: typeof watcher, from: number) => after(w, from).filter((m) => m.topic.startsWith('devices/dev-'))
  const complete = (): boolean => offline(watcher, before).length >= CLIENTS && wills(watcher, before).length >= CLIENTS &&
    offline(wc, beforeC).length >= CLIENTS && wills(wc, beforeC).length >= CLIENTS
  await waitFor(complete, 20_000, 'every status and will on both survivors').catch((err: Error) => {
    throw new Error(`${err.message}: node b got ${offline(watcher, before).length} statuses and ${wills(watcher, before).length} wills, ` +
      `node c ${offline(wc, beforeC).length} and ${wills(wc, beforeC).length}`)
  })
  const arrivals = [...offline(watcher, before), ...wills(watcher, before)].map((m) => m.at)
  const lastStatus = Math.max(...offline(watcher, before).map((m) => m.at))
  const lastWill = Math.max(...wills(watcher, before).map((m) => m.at))
  t.comment(`node loss: last status ${lastStatus - killedAt} ms, last will ${lastWill - killedAt} ms after SIGKILL`)
  t.ok(Math.max(...arrivals) - killedAt <= 15_000, `every status and will within 15 s of the kill (${Math.max(...arrivals) - killedAt} ms)`)

  // Nothing is left to decide once no survivor lists any of them online and no will of the victim is
  // left to claim in Redis. Then a barrier through each survivor comes after anything either of them
  // would still have published (a duplicate status or will).
  const db = redis.client()
  const noneOnline = async (n: { http: number }): Promise<boolean> => {
    const body = await fetch(`http://127.0.0.1:${n.http}/api/devices?state=online`).then(async (r) => await r.json()) as { devices: Array<{ clientId: string }> }
    return !body.devices.some((d) => d.clientId.startsWith('dev-'))
  }
  await waitFor(async () => (await db.keys('will:nl-a:*')).length === 0 && await noneOnline(b!) && await noneOnline(c!), 15_000, 'both survivors done')
  for (const [n, name] of [[b!, 'b'], [c!, 'c']] as const) {
    const barrier = await connectClient(t, n.url, { clientId: `barrier-${name}` })
    await barrier.publishAsync(`devices/barrier-${name}/status`, 'end', { qos: 1 })
  }
  await waitFor(() => [watcher, wc].every((w) => ['b', 'c'].every((name) => w.received.some((m) => m.topic === `devices/barrier-${name}/status`))), 10_000, 'the barriers')
  for (const [name, w, from] of [['node b', watcher, before], ['node c', wc, beforeC]] as const) {
    const statuses = offline(w, from)
    t.equal(statuses.length, CLIENTS, `${name}: exactly ${CLIENTS} offline statuses`)
    t.equal(new Set(statuses.map((m) => m.topic)).size, CLIENTS, `${name}: one status per client`)
    const sp = statuses.map((m) => parse(m.payload))
    t.ok(sp.every((p) => p.reason === 'node_lost'), `${name}: status reason node_lost`)
    const statusOff = Math.max(...sp.map((p) => Math.abs(Number(p.since) - lastBeat)))
    t.ok(statusOff <= 1000, `${name}: status since = the last heartbeat (off by ${statusOff} ms at most)`)
    const got = wills(w, from)
    t.equal(got.length, CLIENTS, `${name}: exactly ${CLIENTS} wills`)
    t.equal(new Set(got.map((m) => m.topic)).size, CLIENTS, `${name}: one will per client`)
    const wp = got.map((m) => parse(m.payload))
    t.ok(wp.every((p) => p.reason === 'node_lost' && p.x === 1), `${name}: will reason node_lost, other fields kept`)
    const willOff = Math.max(...wp.map((p) => Math.abs(Number(p.ts) - lastBeat)))
    t.ok(willOff <= 1000, `${name}: will ts = the last heartbeat (off by ${willOff} ms at most)`)
  }
  const res = await fetch(`http://127.0.0.1:${b!.http}/api/devices?state=online`)
  const body = await res.json() as { devices: Array<{ clientId: string }> }
  t.same(body.devices.filter((d) => d.clientId.startsWith('dev-')), [], 'GET /api/devices on a survivor: none of them online')
  const off = await fetch(`http://127.0.0.1:${c!.http}/api/devices/dev-7`).then(async (r) => await r.json()) as { state: string, reason: string }
  t.match(off, { state: 'offline', reason: 'node_lost' }, 'GET /api/devices/{id} on the other survivor: offline, node_lost')
})
