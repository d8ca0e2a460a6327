/**
 * What Vigil tells MQTT 5 clients in the CONNACK about its limits, and the
 * limits MQTT 5 clients set for the broker, where aedes 2.0.0-beta.1 leaves
 * them out (issue 20, found by test/conformance5/ beside Mosquitto 2):
 *
 * - Topic Alias Maximum [MQTT-3.2.2-17]: Aedes resolves inbound aliases in its
 *   PUBLISH handler, before authorizePublish, so the ACL, the owned-topic
 *   refusals, liveness and every hook still see the real topic; it strips the
 *   alias before fan-out and answers an invalid one with DISCONNECT 0x94. Its
 *   default (0) only meant "not offered". Vigil offers 10, as Mosquitto does.
 *   Aliases are per connection, so a takeover or another node starts empty.
 * - Maximum Packet Size [MQTT-3.2.2-15]: `mqtt.maxPacketSize` was enforced
 *   but never advertised, so a client could not know it (an MQTT 5 client over
 *   it gets DISCONNECT 0x95: mqtt5.ts endForProtocolError).
 * - The client's own Maximum Packet Size [MQTT-3.1.2-24]: Aedes stores it but
 *   still sends larger PUBLISH packets. The spec says to discard such a
 *   message as if it had been sent [MQTT-3.1.2-25]: dropped here, in
 *   authorizeForward (so a queued QoS 1/2 one is also cleared from the
 *   session), and counted in vigil_mqtt5_oversized_dropped_total.
 */
import type { Aedes, AedesPublishPacket, Client } from 'aedes'
import { Counter, type Registry } from 'prom-client'
import mqttPacket from 'mqtt-packet'

/** Topic aliases a client may set up per connection (Mosquitto 2's default too). */
export const TOPIC_ALIAS_MAXIMUM = 10

interface LimitFields { topicAliasMaximum: number, maximumPacketSize: number }

/** Before the broker listens: the values its CONNACK advertises (read per CONNECT). */
export function advertiseV5Limits (broker: Aedes, maxPacketSize: number): void {
  const b = broker as unknown as LimitFields
  b.topicAliasMaximum = TOPIC_ALIAS_MAXIMUM
  b.maximumPacketSize = maxPacketSize
}

/** The client's Maximum Packet Size (undefined: none set, or MQTT 3.1.1). */
const clientMaximum = (client: Client): number | undefined => (client as unknown as { maximumPacketSize?: number }).maximumPacketSize

/** Wire size of `packet` as it would be sent to `client` (MQTT 5), or Infinity when it cannot be encoded. */
function wireSize (packet: AedesPublishPacket): number {
  try {
    // A Packet Identifier is assigned after authorizeForward; any value has the same size.
    const sized = { ...packet, cmd: 'publish', messageId: packet.qos > 0 ? 1 : undefined } as unknown as mqttPacket.Packet
    return mqttPacket.generate(sized, { protocolVersion: 5 }).length
  } catch {
    return Infinity
  }
}

/**
 * After the plugin host installed its hooks: wrap authorizeForward so that a
 * PUBLISH over an MQTT 5 client's Maximum Packet Size is not sent. Costs one
 * field read per delivery for every other client.
 */
export function limitForwardedSize (broker: Aedes, registry: Registry): void {
  const dropped = new Counter({
    name: 'vigil_mqtt5_oversized_dropped_total',
    help: 'PUBLISH packets not sent because they exceed the receiving MQTT 5 client\'s Maximum Packet Size',
    registers: [registry]
  })
  const inner = broker.authorizeForward.bind(broker)
  broker.authorizeForward = (client, packet) => {
    const out = inner(client, packet)
    const most = clientMaximum(client)
    if (out == null || most === undefined || client.version !== 5) return out
    // Cheap first: a payload alone over the limit needs no encoding.
    if (out.payload.length < most && wireSize(out) <= most) return out
    dropped.inc()
    return null
  }
}
