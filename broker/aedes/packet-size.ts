/**
 * mqtt.maxPacketSize: Aedes has no such option, so the guard sits on the
 * client's parser. It checks the Remaining Length as soon as the fixed header
 * is decoded [MQTT-2.2.3], before the body is buffered: an oversized packet
 * costs its header, not its megabytes, and closes only that client.
 * It wraps one private parser method (`_parseLength`, reporting through
 * `_emitError`); test/unit/aedes-boundary.test.ts pins both for the installed
 * mqtt-packet and test/integration/limits.test.ts sends the oversized packets.
 */
import type { Aedes, Client } from 'aedes'
import { VigilError } from '../errors.js'

interface ParserInternals {
  packet: { length: number, cmd?: string }
  _parseLength(): boolean
  _emitError(err: Error): void
}

/** Fixed header (1 byte) + Remaining Length field (1..4 bytes) + Remaining Length. */
function totalSize (remainingLength: number): number {
  const lengthBytes = remainingLength < 128 ? 1 : remainingLength < 16_384 ? 2 : remainingLength < 2_097_152 ? 3 : 4
  return 1 + lengthBytes + remainingLength
}

/** Guard one client's parser (exported for the pinning test, which drives a bare client). */
export function limitPacketSize (client: Client, maxPacketSize: number): void {
  const parser = (client as unknown as { _parser?: ParserInternals })._parser
  if (parser === undefined || typeof parser._parseLength !== 'function') {
    throw new Error('aedes client has no mqtt-packet parser to guard; maxPacketSize cannot be enforced')
  }
  const parseLength = parser._parseLength
  parser._parseLength = function guardedParseLength (this: ParserInternals): boolean {
    if (!parseLength.call(this)) return false
    if (totalSize(this.packet.length) > maxPacketSize) {
      this._emitError(new VigilError('VIGIL_E_PACKET_TOO_LARGE',
        `${this.packet.cmd ?? 'packet'} of ${totalSize(this.packet.length)} bytes exceeds mqtt.maxPacketSize ${maxPacketSize}`))
      return false
    }
    return true
  }
}

/** Wrap `broker.handle` once, at start-up, so every new client's parser gets the guard. */
export function installPacketSizeLimit (broker: Aedes, maxPacketSize: number): void {
  const handle = broker.handle.bind(broker)
  broker.handle = ((conn: unknown, req: unknown) => {
    const client = (handle as (c: unknown, r: unknown) => Client)(conn, req)
    limitPacketSize(client, maxPacketSize)
    return client
  }) as Aedes['handle']
}
