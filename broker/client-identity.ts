/**
 * What a connection says about who is on the other end, read from the
 * transport under an Aedes client (through broker/aedes/, which owns the
 * undocumented fields): the source address, for the failure ban and the logs,
 * and the verified client certificate's CN for mTLS.
 */
import { TLSSocket } from 'node:tls'
import type { Client } from 'aedes'
import { clientSlot, remoteAddress as peerAddress, transportOf } from './aedes/index.js'

/** The peer's IP address, one form per host ("unknown" when the transport does not say). */
export function remoteAddress (client: Client): string {
  const address = peerAddress(client)
  if (address === null) return 'unknown'
  // An IPv4 client on a dual-stack socket: one ban entry, not two.
  return address.startsWith('::ffff:') ? address.slice(7) : address
}

/**
 * The CN of a client certificate the TLS layer verified against mqtt.tls.ca,
 * or null (no TLS, no certificate, unverified, or no CN). TLS over WebSocket
 * does not reach here: its socket belongs to the HTTP server.
 */
export function certificateCommonName (client: Client): string | null {
  const conn = transportOf(client)
  if (!(conn instanceof TLSSocket) || !conn.authorized) return null
  const cert = conn.getPeerCertificate()
  const cn = cert?.subject?.CN
  if (typeof cn === 'string') return cn.length > 0 ? cn : null
  if (Array.isArray(cn)) return null // several CNs: ambiguous, trust none
  return null
}

const USERNAME = clientSlot<string | undefined>('vigil.username')

/**
 * The username the auth plugin settled on (the certificate's CN under mTLS),
 * which the plugin host hands to every later authenticate hook in place of
 * the CONNECT's field, so liveness rules and command templates see the same one.
 */
export function setAuthenticatedUsername (client: Client, username: string | undefined): void {
  USERNAME.set(client, username)
}

export function authenticatedUsername (client: Client, fallback: string | undefined): string | undefined {
  return USERNAME.has(client) ? USERNAME.get(client) : fallback
}
