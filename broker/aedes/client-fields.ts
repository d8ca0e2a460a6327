/**
 * The fields of an Aedes 1.2 client (lib/client.js, lib/handlers/connect.js)
 * that Vigil reads but Aedes' .d.ts does not declare, behind typed accessors,
 * and per-client slots where plugins keep their own state on a client.
 * Nothing outside broker/aedes/ casts a Client; test/unit/aedes-boundary.test.ts
 * pins each field for the installed Aedes, so an upgrade fails there, loudly.
 */
import type { IncomingMessage } from 'node:http'
import type { Socket } from 'node:net'
import type { Client, PublishPacket } from 'aedes'

/** A will as Aedes hands it over: persistence adds clientId and brokerId (putWill). */
export interface WillPacket extends PublishPacket {
  clientId?: string
  brokerId?: string
  /** The epoch of the connection that set the will, tagged at CONNECT so it travels through persistence. */
  vigilEpoch?: number
  /** MQTT 5: how long (ms) the will waits (Will Delay Interval, bounded by the session), tagged at CONNECT like vigilEpoch. */
  vigilWillDelay?: number
}

interface ClientInternals {
  closed: boolean
  errored?: boolean
  /** The will Aedes publishes if this connection ends without DISCONNECT; null once published or dropped. */
  will?: WillPacket | null
  /** The will read from CONNECT, set before any authenticate hook runs (handlers/connect.js). */
  _will?: WillPacket | null
  /** A DISCONNECT packet arrived [MQTT-3.14.4-3]: the will is discarded. */
  _disconnected?: boolean
  subscriptions?: Record<string, unknown>
  conn?: Socket | { remoteAddress?: string }
  /** MQTT over WebSocket: the upgrade request, whose socket carries the address and byte counters. */
  req?: IncomingMessage | null
}

const fields = (client: Client): ClientInternals => client as unknown as ClientInternals

/** The will this connection would publish if it ended now, or null. */
export const pendingWill = (client: Client): WillPacket | null => fields(client).will ?? null

/** Take the pending will off the client, so Aedes will not publish it itself. */
export function takePendingWill (client: Client): WillPacket | null {
  const c = fields(client)
  const will = c.will ?? null
  c.will = null
  return will
}

/** The will the CONNECT carried (readable from the authenticate hooks on). */
export const connectWill = (client: Client): WillPacket | null => fields(client)._will ?? null

/** The client sent DISCONNECT: its end is graceful and its will is void. */
export const sentDisconnect = (client: Client): boolean => fields(client)._disconnected === true

/** Aedes is closing or has closed this client (declared readonly in the .d.ts, read here for one import site). */
export const isClosed = (client: Client): boolean => fields(client).closed

/** The connection ended on an error (socket or protocol). */
export const isErrored = (client: Client): boolean => fields(client).errored === true

/** The topic filters the client holds, by filter. */
export const subscriptionsOf = (client: Client): Record<string, unknown> => fields(client).subscriptions ?? {}

/** The transport under the client: a TCP or TLS socket, or a WebSocket stream. */
export const transportOf = (client: Client): unknown => fields(client).conn

/** For MQTT over WebSocket: the HTTP upgrade request (its socket is the real one). */
export const upgradeRequestOf = (client: Client): IncomingMessage | null => fields(client).req ?? null

/**
 * A place for one plugin's state on a client object (a symbol-keyed property,
 * so V8 keeps one hidden class per plugin set rather than a side map lookup on
 * the hot path). Names are for debugging only; each call makes a distinct slot.
 */
export interface ClientSlot<T> {
  get(client: Client): T | undefined
  set(client: Client, value: T | undefined): void
  has(client: Client): boolean
}

export function clientSlot<T> (name: string): ClientSlot<T> {
  const key = Symbol(name)
  type Slotted = { [key]?: T }
  return {
    get: (client) => (client as unknown as Slotted)[key],
    set: (client, value) => { (client as unknown as Slotted)[key] = value },
    has: (client) => key in (client as unknown as Slotted)
  }
}
