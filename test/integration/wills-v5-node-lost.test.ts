/**
 * A recovered will honours the client's own Will Delay Interval: two `vigil`
 * processes on one Redis, MQTT 5 devices with wills on one of them, which is
 * SIGKILLed. The survivor holds each recovered will for the interval its
 * client set (from the lost node's last heartbeat), not for `wills.delay`,
 * which still holds the will of a client that set none; the will keeps its
 * MQTT 5 properties through the recovery and the delay store.
 */
import { existsSync } from 'node:fs'
import t from 'tap'
import { sysReadableAcl } from '../helpers/auth.js'
import { connectClient, waitFor } from '../helpers/clients.js'
import { startRedis } from '../helpers/redis.js'
import { startVigilProcess, VIGIL_MAIN } from '../helpers/vigil-process.js'
import { JSON_WILL, watch } from './wills-helpers.js'
import { checkWillProperties, watch5, WILL_PROPERTIES } from './wills-v5-props.js'
import { freePort } from '../support/ports.js'

/** Longer than node-loss detection (about 6 s here, 12.25 s at most: 3 heartbeats of 4 s), far shorter than wills.delay. */
const LONG_MS = 15_000
const WILLS_DELAY = '300s'

async function node (t: Parameters<typeof startVigilProcess>[0], id: string, redisUrl: string, acl: string): Promise<{ url: string, child: Awaited<ReturnType<typeof startVigilProcess>>['child'] }> {
  const started = await startVigilProcess(t, {
    VIGIL_NODE_ID: id,
    VIGIL_PERSISTENCE_REDIS: redisUrl,
    VIGIL_MQTT_PORT: String(await freePort()),
    VIGIL_MQTT_WS: 'null',
    VIGIL_HTTP_PORT: String(await freePort()),
    VIGIL_WILLS_TS_UNIT: 'ms',
    VIGIL_WILLS_DELAY: WILLS_DELAY,
    VIGIL_LOG_LEVEL: 'warn',
    VIGIL_AUTH_ACL_FILE: acl
  })
  return { url: started.url, child: started.child }
}

t.test('a SIGKILLed node: its MQTT 5 clients\' wills are held for their own Will Delay Interval, not wills.delay, and keep their properties', { timeout: 120_000 }, async (t) => {
  if (!existsSync(VIGIL_MAIN)) t.fail(`${VIGIL_MAIN} is missing: build with npx tsc -p tsconfig.json`)
  const redis = await startRedis(t)
  const acl = sysReadableAcl(t)
  const [a, b] = await Promise.all(['v5nl-a', 'v5nl-b'].map(async (id) => await node(t, id, redis.url, acl)))
  const beats = await watch(t, b!.url, ['$SYS/v5nl-a/heartbeat'])
  const w = await watch5(t, b!.url, ['devices/#'])
  const session = { sessionExpiryInterval: 600 }
  const will = (id: string, delayS?: number): Record<string, unknown> => ({
    topic: `devices/${id}/status`,
    payload: Buffer.from(JSON_WILL),
    qos: 1,
    retain: false,
    properties: { ...WILL_PROPERTIES, ...(delayS === undefined ? {} : { willDelayInterval: delayS }) }
  })
  // short: due before the loss is even detected; long: due well after; none: wills.delay.
  await connectClient(t, a!.url, { protocolVersion: 5, clientId: 'v5nl-short', properties: session, will: will('v5nl-short', 1) as never })
  await connectClient(t, a!.url, { protocolVersion: 5, clientId: 'v5nl-long', properties: session, will: will('v5nl-long', LONG_MS / 1000) as never })
  await connectClient(t, a!.url, { protocolVersion: 5, clientId: 'v5nl-none', properties: session, will: will('v5nl-none') as never })
  await waitFor(async () => (await redis.client().keys('will:v5nl-a:*')).length === 3, 10_000, 'the three wills stored in Redis')
  const seen = beats.received.length
  await waitFor(() => beats.received.length > seen, 10_000, 'a heartbeat of the victim after the wills were stored')

  a!.child.kill('SIGKILL')
  const lastBeat = beats.received[beats.received.length - 1]!.at

  const short = await waitFor(() => w.received.find((m) => m.topic === 'devices/v5nl-short/status'), 40_000, 'the short-delay will')
  const shortAt = Date.now()
  t.ok(shortAt - lastBeat < LONG_MS, `the 1 s will is out ${shortAt - lastBeat} ms after the last heartbeat, once the loss is detected`)
  t.notOk(w.received.some((m) => m.topic === 'devices/v5nl-long/status'), 'the long-delay will is still held then')
  checkWillProperties(t, short, 'node_lost')

  const long = await waitFor(() => w.received.find((m) => m.topic === 'devices/v5nl-long/status'), LONG_MS + 20_000, 'the long-delay will')
  const longAt = Date.now()
  t.ok(longAt - lastBeat >= LONG_MS - 1000, `the ${LONG_MS / 1000} s will waited its interval: out ${longAt - lastBeat} ms after the last heartbeat`)
  checkWillProperties(t, long, 'node_lost')

  // The client that set no interval: wills.delay (300 s) holds its will, in the delay store now.
  t.equal(w.received.some((m) => m.topic === 'devices/v5nl-none/status'), false, 'the will with no interval is not out')
  t.equal(await redis.client().hexists('vigil:delayed-ends', 'w:v5nl-none'), 1, 'it waits in the delay store for wills.delay')
})
