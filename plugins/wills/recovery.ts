/**
 * Wills of a lost node, recovered as soon as the cluster service declares the
 * node lost, not at Aedes' next will sweep.
 *
 * Timing (BROKER_HEARTBEAT_MS = 4000 in broker/server.ts): a node beats every
 * 4 s. Aedes' own sweep (`_clearWills`, every 4 beats = 16 s) only takes a
 * node's wills once its last beat is over 3 beats (12 s) old, so Aedes alone
 * recovers them 12 to 28 s after the last beat, plus the sweep itself; worse,
 * one refused will aborts the rest of that sweep. The cluster service checks
 * every 250 ms and declares a node lost 12 to 12.25 s after its last beat; this
 * sweep runs then, so wills go out about 8 to 13 s after the node died. Aedes'
 * sweep stays as a safety net; the atomic claim in the wills hook makes sure
 * each will is published once whichever sweep (on whichever node) sees it.
 *
 * Every will goes through the composed authorizePublish (null client, as Aedes
 * does), so the wills hook stamps it (reason node_lost) and claims it, and the
 * other plugins' rules apply to it too.
 */
import type { Aedes } from 'aedes'
import type { Redis } from 'ioredis'
import { persistenceOf, willsInRedis, type WillPacket } from '../../broker/aedes/index.js'
import { publishAsync } from '../../broker/publish.js'

type WillRecord = WillPacket & { clientId: string, brokerId: string }

/**
 * Wills in flight at once. Each costs a few Redis round trips (claim, retained
 * store, delete); 16 at a time, in batches, took 3.9 s for 5,000 wills here, so
 * a node dying just after a heartbeat (lost 12.25 s later) broke the 15 s bound.
 */
const CONCURRENCY = 128

export async function recoverWillsOf (broker: Aedes, lostNodeId: string, onError: (err: unknown) => void, redis: Redis | null = null): Promise<number> {
  const persistence = persistenceOf(broker)
  // Redis mode reads the lost node's wills in one pass (broker/aedes/lost-wills.ts); streamWill is one GET at a time.
  const wills: WillRecord[] = redis !== null
    ? (await willsInRedis<WillPacket>(redis, lostNodeId)).filter((w): w is WillRecord => w.brokerId === lostNodeId && w.clientId !== undefined)
    : []
  if (redis === null) {
    // streamWill skips the nodes it is given; none are given, and only the lost node's are kept.
    for await (const will of persistence.streamWill({})) {
      if (will.brokerId === lostNodeId && will.clientId !== undefined) wills.push(will as WillRecord)
    }
  }
  let published = 0
  const one = async (will: WillRecord): Promise<void> => {
    const key = { id: will.clientId, brokerId: will.brokerId } // the hook may strip brokerId off the packet
    const allowed = await new Promise<boolean>((resolve) => {
      broker.authorizePublish(null, will, (err) => resolve(err === null || err === undefined))
    })
    if (allowed) {
      await publishAsync(broker, will)
      published++
    }
    // Published or refused (held, suppressed, lost the claim): it must not be swept again.
    await persistence.delWill(key)
  }
  // A pool, not batches: one slow will does not hold up the other slots.
  let next = 0
  await Promise.all(Array.from({ length: Math.min(CONCURRENCY, wills.length) }, async () => {
    while (next < wills.length) await one(wills[next++]!).catch(onError)
  }))
  return published
}
