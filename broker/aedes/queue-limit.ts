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

/**
 * The same cap for the Redis persistence (aedes-persistence-redis): a session's queue is the list
 * `outgoing:<clientId>` of packet keys, each packet shared through `<packet key>:offlineCount`.
 * One script per offline subscriber trims the list to `max` from the head (the oldest) and
 * releases each dropped packet as the persistence itself does on an ack (decrement, delete at 0).
 * Key names are the persistence's (this module is the one place that knows them).
 */
const TRIM = `
local dropped = 0
while redis.call('LLEN', KEYS[1]) > tonumber(ARGV[1]) do
  local key = redis.call('LPOP', KEYS[1])
  if not key then break end
  dropped = dropped + 1
  if redis.call('DECR', key .. ':offlineCount') <= 0 then redis.call('DEL', key, key .. ':offlineCount') end
end
return dropped`

interface RedisLike { eval(script: string, keys: number, ...args: Array<string | number>): Promise<unknown> }

export function limitOfflineQueuesRedis (persistence: unknown, redis: RedisLike, isOnline: (clientId: string) => boolean, max: number,
  onDrop: (count: number) => void, onError: (err: unknown) => void): void {
  const p = persistence as QueuePersistence
  const enqueue = p.outgoingEnqueueCombi.bind(p)
  p.outgoingEnqueueCombi = async (subs: Sub[], packet: unknown): Promise<void> => {
    await enqueue(subs, packet)
    // Not awaited: the publish is not held up by a second round trip per offline session.
    for (const sub of subs) {
      if (isOnline(sub.clientId)) continue
      redis.eval(TRIM, 1, `outgoing:${encodeURIComponent(sub.clientId)}`, max).then((dropped) => {
        if (Number(dropped) > 0) onDrop(Number(dropped))
      }, onError)
    }
  }
}
