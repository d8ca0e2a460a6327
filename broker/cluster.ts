/**
 * Which broker nodes are alive. Every node publishes `$SYS/<id>/heartbeat`
 * every BROKER_HEARTBEAT_MS (Aedes does); a node not heard from for 3 beats is
 * lost. Aedes forgets a lost node before it recovers its wills, so the time of
 * its last heartbeat (the time of death of its clients) is kept here.
 */
import type { Aedes } from 'aedes'
import type { Redis } from 'ioredis'
import { emitterOf } from './aedes/index.js'
import { nodeChannel } from './local-first-emitter.js'
import type { Scheduler } from './scheduler.js'

export interface ClusterService {
  /** This node's id. */
  readonly nodeId: string
  /** Aedes' heartbeat period (ms); a node silent for 3 of them is lost. */
  readonly heartbeatMs: number
  /** Last heartbeat time (ms, this node's clock) of a node, alive or lost; undefined if never seen. */
  lastSeen(nodeId: string): number | undefined
  /** Called once per node when it misses 3 heartbeats. Returns an unsubscribe. */
  onNodeLost(listener: (nodeId: string, lastSeen: number) => void): () => void
}

declare module './services.js' {
  interface Services { cluster: ClusterService }
}

/**
 * How often silence is checked: every 250 ms (less with a test's short heartbeat), so a node is
 * declared lost 12 to 12.25 s after its last beat. At half a heartbeat (2 s) it took up to 14 s,
 * and with a node dying just after a beat its clients' statuses and wills came 14 to 15 s after
 * the death, at the edge of the 15 s the contract allows (issue 11). The check walks the known
 * nodes only.
 */
export const checkEvery = (heartbeatMs: number): number => Math.max(50, Math.min(250, Math.floor(heartbeatMs / 2)))

/**
 * A node is also lost once it has missed a heartbeat and a half and `gone` says
 * so: Redis mode asks whether anyone still subscribes to the node's channel
 * (`PUBSUB NUMSUB vigil:mq:<node>`). A killed process's connections close at
 * once, so its subscription is gone; a node that is alive but stalled keeps it
 * and still gets the full 3 beats. With 3 beats alone a node killed just after
 * a heartbeat was lost 12.25 s later, which left under 3 s to publish the
 * statuses and wills of its clients within 15 s of its death: 5,000 of them
 * took longer than that on a loaded machine (test/integration/node-loss-scale.test.ts).
 */
export const PROBE_AFTER_BEATS = 1.5

export function trackCluster (broker: Aedes, nodeId: string, heartbeatMs: number, scheduler: Scheduler,
  gone?: (nodeId: string) => Promise<boolean>): ClusterService & { close(): void } {
  const now = (): number => scheduler.now()
  const lastSeen = new Map<string, number>()
  const probedAt = new Map<string, number>()
  const lost = new Set<string>()
  const listeners = new Set<(nodeId: string, lastSeen: number) => void>()
  const mq = emitterOf(broker)
  const seen = (packet: { payload: Buffer | string }, done: () => void): void => {
    const id = packet.payload.toString()
    lastSeen.set(id, now())
    lost.delete(id)
    done()
  }
  mq.on('$SYS/+/heartbeat', seen)
  mq.on('$SYS/+/birth', seen)
  const declare = (id: string, at: number): void => {
    if (lost.has(id) || lastSeen.get(id) !== at) return
    lost.add(id)
    for (const listener of listeners) listener(id, at)
  }
  const check = scheduler.every(checkEvery(heartbeatMs), () => {
    const t = now()
    const deadline = t - 3 * heartbeatMs
    for (const [id, at] of lastSeen) {
      if (id === nodeId || lost.has(id)) continue
      if (at < deadline) { declare(id, at); continue }
      // Late by a beat and a half: ask (at most once a second per node) whether it is gone.
      if (gone === undefined || at >= t - PROBE_AFTER_BEATS * heartbeatMs || t - (probedAt.get(id) ?? 0) < 1000) continue
      probedAt.set(id, t)
      gone(id).then((yes) => { if (yes) declare(id, at) }, () => {})
    }
  })
  return {
    nodeId,
    heartbeatMs,
    lastSeen: (id) => id === nodeId ? now() : lastSeen.get(id),
    onNodeLost (listener) {
      listeners.add(listener)
      return () => listeners.delete(listener)
    },
    close: () => check.cancel()
  }
}

/**
 * `gone` for Redis mode: nobody subscribes to the node's channel. Only asked
 * once this node's own subscriber has been up for 2 beats: right after a Redis
 * restart every node resubscribes in its own time, and all heartbeats are late.
 */
export function redisSubscriptionGone (commands: Redis, subscriber: Redis, heartbeatMs: number, now: () => number): (nodeId: string) => Promise<boolean> {
  let readySince = subscriber.status === 'ready' ? now() : Infinity
  subscriber.on('ready', () => { readySince = now() })
  subscriber.on('close', () => { readySince = Infinity })
  return async (node) => {
    if (subscriber.status !== 'ready' || now() - readySince < 2 * heartbeatMs) return false
    const [, count] = await commands.pubsub('NUMSUB', nodeChannel(node)) as [string, number | string]
    return Number(count) === 0
  }
}
