/**
 * persistence.redis beyond redis://: a TLS Redis (rediss://) and a master +
 * replica behind Redis Sentinel (redis+sentinel://), failed over under QoS 1
 * load. Real redis-server and redis-sentinel processes, real clients.
 */
import { spawn } from 'node:child_process'
import mqtt from 'mqtt'
import t from 'tap'
import { startBroker } from '../helpers/broker.js'
import { makeCerts } from '../helpers/certs.js'
import { connectClient, sleep, subscribe, waitFor } from '../helpers/clients.js'

import { startSentinelSet, startTlsRedis } from '../helpers/redis-topologies.js'
import { envWithoutVigil, startVigilProcess, VIGIL_MAIN, withoutTapHooks } from '../helpers/vigil-process.js'
import { eventually } from '../support/wait.js'
import { freePort } from '../support/ports.js'

async function readyz (httpPort: number): Promise<number> {
  try {
    return (await fetch(`http://127.0.0.1:${httpPort}/readyz`)).status
  } catch {
    return 0
  }
}

t.test('rediss://: sessions live in a TLS Redis whose certificate is checked', { timeout: 60_000 }, async (t) => {
  const certs = makeCerts(t)
  const redis = await startTlsRedis(t, certs.cert, certs.key)
  const vars = async (): Promise<Record<string, string>> => ({
    VIGIL_PERSISTENCE_REDIS: redis.url,
    VIGIL_MQTT_PORT: String(await freePort()),
    VIGIL_MQTT_WS: 'null',
    VIGIL_HTTP_PORT: String(await freePort()),
    VIGIL_LOG_LEVEL: 'warn'
  })
  const trusted = await vars()
  const { url } = await startVigilProcess(t, { ...trusted, NODE_EXTRA_CA_CERTS: certs.cert })
  await eventually(async () => await readyz(Number(trusted.VIGIL_HTTP_PORT)) === 200, 10_000)
  t.equal(await readyz(Number(trusted.VIGIL_HTTP_PORT)), 200, 'ready: Redis answers over TLS')

  // A persistent session: the queued message must come back from Redis.
  const sub = await connectClient(t, url, { clientId: 'tls-sub', clean: false })
  await subscribe(sub, 'tls/queue', 1)
  await new Promise<void>((resolve) => sub.end(false, {}, () => resolve()))
  const pub = await connectClient(t, url, { clientId: 'tls-pub' })
  await pub.publishAsync('tls/queue', 'kept', { qos: 1 })
  // Listening before CONNACK: the queued message may come in the same read as the CONNACK.
  const again = mqtt.connect(url, { clientId: 'tls-sub', clean: false, reconnectPeriod: 0, protocolVersion: 4 })
  t.teardown(() => { again.end(true) })
  const got = await new Promise<string>((resolve) => again.once('message', (_topic, payload) => resolve(payload.toString())))
  t.equal(got, 'kept', 'the queued QoS 1 message of an offline session was kept in the TLS Redis')

  // The same server without its CA: the certificate is refused and the broker does not start on it.
  const untrusted = spawn(...withoutTapHooks(process.execPath, [VIGIL_MAIN]), { env: { ...envWithoutVigil(), ...(await vars()) }, stdio: ['ignore', 'ignore', 'pipe'] })
  t.teardown(() => { untrusted.kill('SIGKILL') })
  let stderr = ''
  untrusted.stderr?.on('data', (d: Buffer) => { stderr += d.toString() })
  const code = await new Promise<number | null>((resolve) => untrusted.once('exit', (c) => resolve(c)))
  t.equal(code, 1, 'start-up fails (exit 1) against a certificate nobody vouches for')
  t.match(stderr, /VIGIL_E_|certificate|redis/i, 'and says why')
})

t.test('redis+sentinel://: the broker follows a failover; QoS 1 traffic resumes without a restart', { timeout: 90_000 }, async (t) => {
  const set = await startSentinelSet(t)
  const b = await startBroker(t, { persistence: { redis: set.url } })
  // Both clients reconnect as real devices do: the broker may close a connection whose session it cannot store.
  const sub = await connectClient(t, b.url, { clientId: 'sentinel-sub', clean: false, reconnectPeriod: 200, reconnectOnConnackError: true })
  let subCloses = 0
  sub.on('close', () => { subCloses++ })
  const seen = new Set<number>()
  let duplicates = 0
  sub.on('message', (_topic, payload) => {
    const n = Number(payload.toString())
    if (seen.has(n)) duplicates++
    seen.add(n)
  })
  await subscribe(sub, 'sentinel/load', 1)
  const pub = await connectClient(t, b.url, { clientId: 'sentinel-pub', reconnectPeriod: 200, reconnectOnConnackError: true })
  const acked = new Set<number>()
  const TOTAL = 600
  const KILL_AT = 200
  let oldMaster = 0
  const inFlight: Array<Promise<void>> = []
  for (let n = 0; n < TOTAL; n++) {
    if (n === KILL_AT) oldMaster = await set.killMaster()
    inFlight.push(pub.publishAsync('sentinel/load', String(n), { qos: 1 }).then(() => { acked.add(n) }, () => {}))
    await sleep(10) // pacing: one publish every 10 ms, the failover happens under a steady load
  }
  const newMaster = await set.failedOver(oldMaster)
  t.not(newMaster, oldMaster, `the sentinel promoted the replica (${oldMaster} -> ${newMaster})`)
  await eventually(async () => (await b.services.need('lifecycle').ready()).ok, 20_000)
  t.ok((await b.services.need('lifecycle').ready()).ok, 'ready again after the failover, without a restart')

  // After the failover, traffic flows end to end again.
  const after = await connectClient(t, b.url, { clientId: 'sentinel-late' })
  await subscribe(after, 'sentinel/after', 1)
  const arrived = new Promise<string>((resolve) => after.once('message', (_t, p) => resolve(p.toString())))
  await pub.publishAsync('sentinel/after', 'flowing', { qos: 1 })
  t.equal(await arrived, 'flowing', 'a new subscriber receives a QoS 1 message published after the failover')

  let settled = false
  void Promise.allSettled(inFlight).then(() => { settled = true })
  await eventually(() => settled, 10_000)
  await waitFor(() => [...acked].every((n) => seen.has(n)) || null, 15_000, 'every acknowledged message').catch(() => {})
  const lost = [...acked].filter((n) => !seen.has(n))
  t.comment(`sentinel failover: ${acked.size}/${TOTAL} acknowledged, ${lost.length} of them never delivered, ${duplicates} duplicates, subscriber reconnected ${subCloses} times`)
  t.same(lost, [], 'no acknowledged message is lost across the failover')
})
