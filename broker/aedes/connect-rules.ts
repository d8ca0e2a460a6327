/**
 * What the MQTT 3.1.1 spec says a server does with a CONNECT whose fields
 * are illegal, decided from the packet as the wire had it (before Aedes
 * invents a clientId for an empty one). Pure: no Aedes, no clock.
 */
import { topicNameProblem } from './topic-syntax.js'

export interface RawConnect {
  protocolId: string
  protocolVersion: number
  clean: boolean
  clientId: string
  username?: string | undefined
  password?: unknown
  will?: { topic: string } | null | undefined
  properties?: { receiveMaximum?: number, maximumPacketSize?: number, authenticationMethod?: string, authenticationData?: unknown } | undefined
}

export type ConnectVerdict =
  /** `reasonCode`: an MQTT 5 refusal with no 3.1.1 counterpart (counted as returnCode's). */
  | { action: 'connack', returnCode: 1 | 2, reason: string, reasonCode?: number }
  | { action: 'close', reason: string }

/**
 * null when the CONNECT may go on to Aedes. In Mosquitto 2's order: protocol,
 * client identifier, will, credentials.
 */
export function connectVerdict (packet: RawConnect): ConnectVerdict | null {
  const { protocolId, protocolVersion } = packet
  // [MQTT-3.1.2-2] "MQTT" is level 4, "MQIsdp" (3.1) level 3: any other pair is
  // a level this server does not support under that name. Level 5 ("MQTT") is
  // served by Aedes 2.
  if ((protocolId === 'MQTT' && protocolVersion < 4) || (protocolId === 'MQIsdp' && protocolVersion !== 3)) {
    return { action: 'connack', returnCode: 1, reason: `protocol name ${protocolId} with level ${protocolVersion} [MQTT-3.1.2-2]` }
  }
  // MQTT 5 lets a client send an empty ClientId whatever Clean Start says: the
  // server assigns one [MQTT-3.1.3-6], and Aedes 2 reports it in the CONNACK.
  if (packet.clientId.length === 0 && protocolVersion !== 5) {
    // [MQTT-3.1.3-8] a zero-byte ClientId needs CleanSession 1; 3.1 required 1 to 23 characters.
    if (!packet.clean) return { action: 'connack', returnCode: 2, reason: 'empty client identifier with CleanSession 0 [MQTT-3.1.3-8]' }
    if (protocolVersion === 3) return { action: 'connack', returnCode: 2, reason: 'empty client identifier (MQTT 3.1)' }
  }
  if (protocolVersion === 5) {
    // What Aedes 2 refuses itself, with no Reason String: refused here with one.
    const props = packet.properties
    if (props?.receiveMaximum === 0) return { action: 'connack', returnCode: 1, reasonCode: 0x82, reason: 'Receive Maximum 0 is a Protocol Error' }
    if (props?.authenticationData !== undefined && props.authenticationMethod === undefined) {
      return { action: 'connack', returnCode: 1, reasonCode: 0x82, reason: 'Authentication Data without an Authentication Method' }
    }
    // Enhanced authentication (AUTH) is not supported [MQTT-4.12.0-1].
    if (props?.authenticationMethod !== undefined) return { action: 'connack', returnCode: 1, reasonCode: 0x8c, reason: `authentication method ${props.authenticationMethod} not supported` }
  }
  if (packet.will != null) {
    const problem = topicNameProblem(packet.will.topic)
    if (problem !== null) return { action: 'close', reason: `will topic: ${problem}` }
  }
  // [MQTT-3.1.2-22] no Password Flag without the User Name Flag (MQTT 5 allows it, 3.1.2.9).
  if (packet.password !== undefined && packet.username === undefined && protocolVersion !== 5) {
    return { action: 'close', reason: 'password flag without user name flag [MQTT-3.1.2-22]' }
  }
  return null
}
