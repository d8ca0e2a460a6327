/**
 * Reason Strings on the CONNACK refusals that come from the authenticate hook
 * (bad credentials, not authorized, banned, Redis unavailable, connection
 * limits). aedes 2.0.0-beta.1's connect handler (lib/handlers/connect.js,
 * `authenticate`'s `negate`) builds the refusal CONNACK from the error's
 * return code and copies only a `serverReference` onto it, so an MQTT 5
 * client learns the reason code and nothing else [MQTT-3.2.2.3.9].
 *
 * The refusal is written here instead, with the same reason code Aedes would
 * choose and the refusal's message as Reason String; `connecting` is cleared
 * first so Aedes' own write finds the connection closing and writes nothing,
 * then Aedes goes on as for any refusal (it closes the connection and reports
 * the error) [MQTT-3.2.2-5]. `connackSent` is emitted with the 3.1.1 return
 * code beside the reason code, so the connection log and
 * vigil_connections_total count an MQTT 5 refusal like a 3.1.1 one.
 *
 * The message is the hook's own (ConnectRefused texts name the rule, never a
 * password). A 3.1.1 client, a redirect (serverReference) and a success go
 * through Aedes untouched.
 */
import type { Aedes, Client } from 'aedes'
import mqttPacket from 'mqtt-packet'

/** [MQTT-3.2.2-6] what Aedes 2 maps the 3.1.1 return codes 2..5 to. */
const V5_CODE: Record<number, number> = { 2: 0x85, 3: 0x88, 4: 0x86, 5: 0x87 }
/** Aedes' fallback for a refusal with no usable return code: not authorized. */
const FALLBACK_RETURN_CODE = 5
const FALLBACK_TEXT = 'not authorized'

interface ConnectingClient {
  connecting: boolean
  connackSent?: boolean
  closed: boolean
  version: number
  maximumPacketSize?: number
  conn: { write(data: Buffer): unknown }
}

interface Refusal { message?: string, returnCode?: number, serverReference?: unknown }

/** The CONNACK refusing an MQTT 5 client: with the Reason String, unless it would exceed the client's Maximum Packet Size [MQTT-3.2.2-19]. */
export function refusalConnack5 (returnCode: number, reason: string, maximumPacketSize: number | undefined): { packet: mqttPacket.IConnackPacket, bytes: Buffer } {
  const reasonCode = V5_CODE[returnCode] ?? V5_CODE[FALLBACK_RETURN_CODE]!
  const packet = { cmd: 'connack', sessionPresent: false, returnCode, reasonCode, properties: { reasonString: reason } } as mqttPacket.IConnackPacket
  let bytes = mqttPacket.generate(packet, { protocolVersion: 5 })
  if (maximumPacketSize !== undefined && bytes.length > maximumPacketSize) {
    delete packet.properties
    bytes = mqttPacket.generate(packet, { protocolVersion: 5 })
  }
  return { packet, bytes }
}

/** Wrap the broker's (composed) authenticate once, after every other wrapper: the outermost sees every refusal. */
export function explainConnackRefusals (broker: Aedes): void {
  const authenticate = broker.authenticate.bind(broker)
  broker.authenticate = (client, username, password, callback) => {
    authenticate(client, username, password, (err, ok) => {
      const c = client as unknown as ConnectingClient
      if ((err == null && ok) || c.version !== 5 || c.closed || !c.connecting) return callback(err, ok)
      const refusal = (err ?? {}) as Refusal
      if (refusal.serverReference !== undefined && refusal.serverReference !== null) return callback(err, ok)
      const code = refusal.returnCode !== undefined && V5_CODE[refusal.returnCode] !== undefined ? refusal.returnCode : FALLBACK_RETURN_CODE
      const reason = refusal.message !== undefined && refusal.message !== '' ? refusal.message : FALLBACK_TEXT
      const { packet, bytes } = refusalConnack5(code, reason, c.maximumPacketSize)
      c.conn.write(bytes)
      c.connackSent = true
      // Aedes' write checks `connecting || connected`: with both false it writes nothing and closes.
      c.connecting = false
      broker.emit('connackSent', packet as never, client as Client)
      callback(err ?? Object.assign(new Error(reason), { returnCode: code }), false)
    })
  }
}
