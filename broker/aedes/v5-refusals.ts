/**
 * Refusals that end an MQTT 5 connection with a DISCONNECT saying why, where
 * Vigil's parser-level guards used to just close it (issue 20, found by
 * test/conformance5/ beside Mosquitto 2). A 3.1.1 client has no DISCONNECT
 * from the server, so it is closed as before; so is a v5 client that is not
 * connected yet (there is nothing to say before the CONNACK).
 */
import type { Client } from 'aedes'

/** [MQTT-3.3.4-9] 0x93 Receive Maximum exceeded. */
const RECEIVE_MAXIMUM_EXCEEDED = 0x93

interface Closing {
  connected: boolean, connackSent?: boolean, closed: boolean, errored?: boolean
  rejectPacketTooLarge?(size: number): void
}

const ending = new WeakSet<object>()

/** The CONNACK went out (Aedes marks the client connected a little later, after the queue). */
const speaksV5 = (client: Client): boolean => {
  const c = client as unknown as Closing
  return client.version === 5 && (c.connected || c.connackSent === true) && !c.closed && c.errored !== true
}

/**
 * Hand what is written to the socket now. Aedes destroys the socket in the
 * DISCONNECT write's callback, and a PUBREC still being written for an
 * earlier PUBLISH can fail and destroy it sooner: either way a DISCONNECT
 * still corked (mqtt-packet, write-coalescing.ts) was at times lost.
 */
function flushNow (client: Client): void {
  const conn = (client as unknown as { conn: { writableCorked?: number, uncork?(): void } }).conn
  while ((conn.writableCorked ?? 0) > 0) conn.uncork!()
}

/** Run `end` once the client is connected: Aedes only writes a DISCONNECT to a connected client. */
function whenConnected (client: Client, end: () => void): void {
  if ((client as unknown as Closing).connected) end()
  else client.once('connected', end)
}

/**
 * More QoS 2 PUBLISH awaiting PUBREL than the Receive Maximum the CONNACK
 * advertised (strict-packets.ts counts them): DISCONNECT 0x93 with the
 * refusal as Reason String, reported like any client error. True when the
 * connection is being ended here (the caller drops the packet and what follows).
 */
export function endWithReceiveMaximumExceeded (client: Client, err: Error): boolean {
  if (ending.has(client)) return true
  if (!speaksV5(client)) return false
  ending.add(client)
  const broker = (client as unknown as { broker: { emit(event: string, ...args: unknown[]): boolean } }).broker
  broker.emit('clientError', client, err)
  whenConnected(client, () => {
    client.disconnect({ reasonCode: RECEIVE_MAXIMUM_EXCEEDED, properties: { reasonString: err.message } } as never)
    flushNow(client)
  })
  return true
}

/**
 * A packet over `mqtt.maxPacketSize` (advertised as Maximum Packet Size,
 * v5-limits.ts): Aedes' own rejection, DISCONNECT 0x95 Packet too large
 * [MQTT-3.2.2-15]. True when the connection is being ended here.
 */
export function endWithPacketTooLarge (client: Client, size: number): boolean {
  const c = client as unknown as Closing
  if (ending.has(client)) return true
  if (!speaksV5(client) || typeof c.rejectPacketTooLarge !== 'function') return false
  ending.add(client)
  whenConnected(client, () => { c.rejectPacketTooLarge!(size); flushNow(client) })
  return true
}
