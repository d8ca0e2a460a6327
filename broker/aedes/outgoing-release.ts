/**
 * Redis mode: a stored QoS 1/2 message is released once per session, however
 * often that session acknowledges it (issue 16).
 *
 * aedes-persistence-redis keeps one copy of a queued message for all the
 * sessions it is queued for (`packet:<broker>:<counter>`), with a share count
 * (`<key>:offlineCount`, the number of sessions) and, per session, the list
 * `outgoing:<clientId>` of the keys it still has to get. Its
 * outgoingClearMessageId (a PUBACK, a PUBCOMP) removes the key from the
 * session's list and decrements the count on every call, whether or not the
 * list still held it; at 0 the message is deleted. A session legitimately
 * acknowledges one message twice under two packet ids when it gets it twice
 * (QoS 1 is at least once): a live copy and the copy from its queue when it
 * reconnects, or the copy session-replay.ts re-delivers after a Redis cut. Each
 * extra acknowledgement took one share of another session: the message was
 * deleted while still in the list of a session that had not got it, and Aedes
 * skips (and removes) a key whose message is gone when it reads the queue at
 * CONNECT. An acknowledged message was lost, silently, one in three loaded
 * runs of test/integration/redis-proxy-cut.test.ts.
 *
 * Here the two calls that track a message a session was sent (outgoingUpdate,
 * outgoingClearMessageId) are Vigil's own, on the same keys, with one change:
 * a session releases its share only when its own entry goes (LREM removed the
 * key from its list; for QoS 2, DEL removed its PUBREL record), in one script,
 * so two acknowledgements racing each other release it once. Their packet id
 * map (client + packet id -> key) is a bounded two-generation map, as the
 * library's. Also: a QoS 1 delivery no longer re-creates a message that every
 * session has released (the library's SET did, without its count: a leak).
 */
import msgpack from 'msgpack-lite'
import type { Redis } from 'ioredis'

interface Tracked {
  id: string
}
interface OutgoingPacket {
  cmd?: string
  messageId?: number
  brokerId?: string
  brokerCounter?: number | string
}
interface OutgoingPersistence {
  outgoingUpdate(client: Tracked, packet: OutgoingPacket): Promise<void>
  outgoingClearMessageId(client: Tracked, packet: OutgoingPacket): Promise<unknown>
}

/** The persistence's key names (asyncPersistence.js of aedes-persistence-redis 12). */
const listKey = (clientId: string): string => `outgoing:${encodeURIComponent(clientId)}`
const packetKey = (brokerId: string, counter: number | string): string => `packet:${brokerId}:${counter}`
const pubrelKey = (clientId: string, brokerId: string, counter: number | string): string =>
  `${listKey(clientId)}:${brokerId}:${counter}`

/**
 * KEYS: the session's list, the session's record of the message (the packet key for QoS 1, its
 * PUBREL record for QoS 2), the packet key, the share count. Returns the record, or nil.
 */
const RELEASE = `
local record = redis.call('GET', KEYS[2])
local released
if KEYS[2] ~= KEYS[3] then
  released = redis.call('DEL', KEYS[2]) == 1
  redis.call('LREM', KEYS[1], 0, KEYS[2])
  redis.call('LREM', KEYS[1], 0, KEYS[3])
else
  released = redis.call('LREM', KEYS[1], 0, KEYS[3]) > 0
end
if released and redis.call('DECR', KEYS[4]) <= 0 then redis.call('DEL', KEYS[3], KEYS[4]) end
return record`

/** KEYS: the session's list, the packet key, the session's PUBREL record. ARGV: the encoded PUBREL. */
const PUBREL = `
if redis.call('LREM', KEYS[1], 0, KEYS[2]) > 0 then redis.call('RPUSH', KEYS[1], KEYS[3]) end
redis.call('SET', KEYS[3], ARGV[1])
return 1`

interface Sent { record: string, packet: string }

/** A bounded map: two generations of `max` entries, the older dropped whole when the newer fills. */
class TwoGenerations {
  #current = new Map<string, Sent>()
  #previous = new Map<string, Sent>()
  constructor (readonly max: number) {}
  set (key: string, value: Sent): void {
    this.#current.set(key, value)
    if (this.#current.size >= this.max) {
      this.#previous = this.#current
      this.#current = new Map()
    }
  }

  get (key: string): Sent | undefined {
    return this.#current.get(key) ?? this.#previous.get(key)
  }

  delete (key: string): void {
    this.#current.delete(key)
    this.#previous.delete(key)
  }
}

type ReleaseCommand = (list: string, record: string, packet: string, count: string) => Promise<Buffer | null>

/** Install on the Redis persistence Aedes is given (before Aedes starts), with its command connection. */
export function releaseOncePerSession (persistence: unknown, conn: Redis, max = 100_000): void {
  const p = persistence as OutgoingPersistence
  if (typeof p.outgoingUpdate !== 'function' || typeof p.outgoingClearMessageId !== 'function') {
    throw new Error('persistence has no outgoingUpdate/outgoingClearMessageId; the release fix cannot be installed')
  }
  conn.defineCommand('vigilReleaseOutgoing', { numberOfKeys: 4, lua: RELEASE })
  conn.defineCommand('vigilPubrelOutgoing', { numberOfKeys: 3, lua: PUBREL })
  const release = (conn as unknown as { vigilReleaseOutgoingBuffer: ReleaseCommand }).vigilReleaseOutgoingBuffer.bind(conn)
  const pubrel = (conn as unknown as { vigilPubrelOutgoing: (a: string, b: string, c: string, d: Buffer) => Promise<unknown> }).vigilPubrelOutgoing.bind(conn)
  const sent = new TwoGenerations(max)
  const idKey = (client: Tracked, messageId: number | undefined): string => `${client.id}\u0000${String(messageId)}`

  p.outgoingUpdate = async (client, packet) => {
    const key = idKey(client, packet.messageId)
    if (packet.brokerId === undefined || packet.brokerCounter === undefined) {
      // A PUBREL (QoS 2) names only its packet id: the message it belongs to is the one last sent under it.
      const known = sent.get(key)
      if (known === undefined) throw new Error('unknown key')
      const [, brokerId, counter] = /^packet:(.*):([^:]*)$/.exec(known.packet) ?? []
      packet.brokerId = brokerId
      packet.brokerCounter = counter
    }
    const pkt = packetKey(packet.brokerId!, packet.brokerCounter!)
    if (packet.cmd !== 'pubrel') {
      sent.set(key, { record: pkt, packet: pkt })
      // The packet id goes into the shared copy, as the library does; XX: never re-create a released one.
      await conn.set(pkt, msgpack.encode(packet), 'XX')
      return
    }
    const record = pubrelKey(client.id, packet.brokerId!, packet.brokerCounter!)
    sent.set(key, { record, packet: pkt })
    await pubrel(listKey(client.id), pkt, record, msgpack.encode(packet))
  }

  p.outgoingClearMessageId = async (client, packet) => {
    const key = idKey(client, packet.messageId)
    const known = sent.get(key)
    sent.delete(key)
    if (known === undefined) return undefined
    const record = await release(listKey(client.id), known.record, known.packet, `${known.packet}:offlineCount`)
    if (record === null) return undefined
    const orig = msgpack.decode(record) as OutgoingPacket
    orig.messageId = packet.messageId
    return orig
  }
}
