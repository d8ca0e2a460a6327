/**
 * `limits.maxQueued` on the memory persistence: QoS 1/2 messages queued for a
 * session whose client is offline are capped per client; past the cap the
 * OLDEST message that was never sent is dropped (and reported), so a device
 * that comes back gets the newest `max` messages. The persistence's queue is
 * private to it: this wrapper counts what it enqueues for offline clients and
 * drops through the persistence's own call (a queued, never-sent packet has
 * no messageId yet, so "clear messageId undefined" removes the oldest such).
 * The count starts again at 0 whenever the client connects (the queue drains).
 */
interface Sub { clientId: string }
interface QueuePersistence {
  outgoingEnqueueCombi(subs: Sub[], packet: unknown): Promise<void>
  outgoingClearMessageId(client: { id: string }, packet: { messageId?: number }): Promise<unknown>
}

export interface QueueLimit {
  /** The client connected: its queue is being delivered, start counting again. */
  reset(clientId: string): void
}

export function limitOfflineQueues (persistence: unknown, isOnline: (clientId: string) => boolean, max: number,
  onDrop: (count: number) => void, onError: (err: unknown) => void): QueueLimit {
  const p = persistence as QueuePersistence
  const enqueue = p.outgoingEnqueueCombi.bind(p)
  const queued = new Map<string, number>()
  p.outgoingEnqueueCombi = async (subs: Sub[], packet: unknown): Promise<void> => {
    await enqueue(subs, packet)
    for (const sub of subs) {
      if (isOnline(sub.clientId)) continue
      const count = (queued.get(sub.clientId) ?? 0) + 1
      if (count <= max) {
        queued.set(sub.clientId, count)
        continue
      }
      queued.set(sub.clientId, max)
      try {
        const dropped = await p.outgoingClearMessageId({ id: sub.clientId }, { messageId: undefined })
        if (dropped !== undefined) onDrop(1)
      } catch (err) {
        onError(err)
      }
    }
  }
  return { reset: (clientId) => { queued.delete(clientId) } }
}
