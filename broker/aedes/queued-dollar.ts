/**
 * Messages queued for persistent sessions (QoS 1/2, CleanSession 0), which
 * Aedes 1.2 gets wrong in two ways (aedes.js enqueueOffline):
 * - [MQTT-4.7.2-1] it drops wildcard filters only for `$SYS/` topics, so a
 *   session subscribed to `#` or `+/+` collects every `$liveness/...` status
 *   and gets them at its next CONNECT. Live delivery is right (Aedes wraps
 *   wildcard subscriptions in a `$` check), but the queue is filled for online
 *   persistent sessions too, so the statuses pile up while it is connected.
 * - [MQTT-3.3.1-9] it queues the packet with the RETAIN flag it was published
 *   with and sends it so on reconnect; a message for an established
 *   subscription carries RETAIN 0.
 * Both are fixed on the persistence call Aedes makes to queue a message
 * (outgoingEnqueueCombi), in memory and Redis mode alike. Only QoS 1/2
 * publishes get there; a `$` or retained one pays one filter or one copy.
 */
import { startsWithWildcard } from './topic-syntax.js'

interface QueuedSub { topic: string }
interface QueuedPacket { topic: string, retain?: boolean }
interface OfflineQueue {
  outgoingEnqueueCombi(subs: QueuedSub[], packet: QueuedPacket): Promise<void>
}

export function guardOfflineQueue (persistence: unknown): void {
  const queue = persistence as OfflineQueue
  if (typeof queue.outgoingEnqueueCombi !== 'function') {
    throw new Error('persistence has no outgoingEnqueueCombi; the offline-queue checks cannot be installed')
  }
  const enqueue = queue.outgoingEnqueueCombi.bind(queue)
  queue.outgoingEnqueueCombi = (subs: QueuedSub[], packet: QueuedPacket): Promise<void> => {
    // A stored `$share/` filter is a shared subscription's name, never matched literally (shared-subscriptions.ts queues for those).
    const queued = packet.topic.charCodeAt(0) === 36 ? subs.filter((sub) => !startsWithWildcard(sub.topic) && !sub.topic.startsWith('$share/')) : subs
    if (queued.length === 0) return Promise.resolve()
    // A copy: the same packet object goes on to live delivery and the published hook.
    return enqueue(queued, packet.retain === true ? { ...packet, retain: false } : packet)
  }
}
