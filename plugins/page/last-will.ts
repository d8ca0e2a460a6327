/**
 * "Last will" for the device view: what a device asked the broker to publish
 * when it dies, and what its will topic holds now. Aedes does not remember a
 * client's will once the connection is gone, so the will is noted when the
 * client connects (once per CONNECT, off the packet path) and the retained
 * message of its topic is read from the persistence on request. A device that
 * follows the device protocol sets a retained will, so after its death the
 * retained message is the will as the broker published it (stamped); after a
 * birth it is the birth, which the view says as it is.
 */
import type { Aedes, Client } from 'aedes'
import { pendingWill, persistenceOf } from '../../broker/aedes/index.js'

/** A will payload bigger than this is kept cut (the view is for people, not a store). */
const MAX_KEPT_BYTES = 4096

export interface WillMessage {
  topic: string
  /** UTF-8 text, or base64 when the payload is not valid UTF-8. */
  payload: string
  encoding: 'utf8' | 'base64'
  /** Whether `payload` was cut to the first 4 KiB. */
  truncated: boolean
  qos: number
  retain: boolean
}

export interface RegisteredWill extends WillMessage {
  /** When the connection that set it was accepted (ms, broker clock). */
  connectedAt: number
}

export interface LastWill {
  clientId: string
  /** The will topic: the registered one, else the device protocol's `devices/{clientId}/status`. */
  topic: string
  registered: RegisteredWill | null
  retained: WillMessage | null
}

interface WillPacket { topic: string, payload: Buffer | string, qos: number, retain: boolean }

const decoder = new TextDecoder('utf-8', { fatal: true })

/** `cut`: the payload was already cut to MAX_KEPT_BYTES when it was noted. */
export function describeMessage (packet: WillPacket, cut = false): WillMessage {
  const raw = typeof packet.payload === 'string' ? Buffer.from(packet.payload) : packet.payload
  const truncated = cut || raw.length > MAX_KEPT_BYTES
  const bytes = truncated ? raw.subarray(0, MAX_KEPT_BYTES) : raw
  let payload: string
  let encoding: 'utf8' | 'base64' = 'utf8'
  try {
    payload = decoder.decode(bytes)
  } catch {
    // A cut can split a UTF-8 sequence: only a payload that was whole and invalid is binary.
    payload = truncated ? Buffer.from(bytes).toString('utf8') : Buffer.from(bytes).toString('base64')
    if (!truncated) encoding = 'base64'
  }
  return { topic: packet.topic, payload, encoding, truncated, qos: packet.qos, retain: packet.retain }
}

/**
 * A will as noted at CONNECT: the packet's own topic and payload (shared with
 * Aedes, not copied or decoded per connect: issue 15, bytes and work per
 * connection), cut to MAX_KEPT_BYTES only when longer.
 */
interface NotedWill extends WillPacket { cut: boolean, connectedAt: number }

export class WillRegistry {
  readonly #wills = new Map<string, NotedWill>()

  /** At CONNECT: the client's will (or none, which forgets an earlier one). */
  noteConnect (client: Client, now: number): void {
    const will = pendingWill(client)
    if (will === null || typeof will.topic !== 'string') {
      this.#wills.delete(client.id)
      return
    }
    let payload = will.payload
    const cut = (typeof payload === 'string' ? Buffer.byteLength(payload) : payload.length) > MAX_KEPT_BYTES
    if (cut) payload = Buffer.from((typeof payload === 'string' ? Buffer.from(payload) : payload).subarray(0, MAX_KEPT_BYTES))
    this.#wills.set(client.id, { topic: will.topic, payload, qos: will.qos, retain: will.retain, cut, connectedAt: now })
  }

  forget (clientId: string): void { this.#wills.delete(clientId) }

  registered (clientId: string): RegisteredWill | undefined {
    const noted = this.#wills.get(clientId)
    return noted === undefined ? undefined : { ...describeMessage(noted, noted.cut), connectedAt: noted.connectedAt }
  }

  get size (): number { return this.#wills.size }
}

/** The retained message stored on exactly `topic`, or null. */
export async function retainedOn (broker: Aedes, topic: string): Promise<WillMessage | null> {
  for await (const packet of persistenceOf(broker).createRetainedStream(topic)) {
    if (packet.topic === topic) return describeMessage(packet)
  }
  return null
}
