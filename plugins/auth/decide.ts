/**
 * Who a CONNECT is, or why it is refused (contract section 9), as a pure
 * decision the adapter applies: the password check is the only asynchronous
 * step and is passed in already done. CONNACK codes [MQTT-3.2.2-3]:
 * bad credentials 4; anonymous not allowed or banned source 5; a clientId
 * the identity rule forbids 2.
 */
import type { AuthFailureReason } from './metrics.js'

export interface ConnectFacts {
  clientId: string
  /** The CONNECT's username field. */
  username: string | undefined
  /** CN of a verified client certificate when certificateIdentity is on, else null. */
  certificateName: string | null
  /** null: no password file (nothing to check a username against). */
  passwordOk: boolean | null
  anonymousAllowed: boolean
  clientIdMustMatch: 'username' | 'certificate' | null
}

export type ConnectDecision =
  | { ok: true, username: string | undefined }
  | { ok: false, returnCode: 2 | 4 | 5, reason: AuthFailureReason, message: string }

export function decideConnect (f: ConnectFacts): ConnectDecision {
  let username: string | undefined
  if (f.certificateName !== null) {
    // mTLS: the certificate is the credential, its CN the username (Mosquitto's use_identity_as_username).
    username = f.certificateName
  } else if (f.username !== undefined && f.passwordOk !== null) {
    if (!f.passwordOk) return { ok: false, returnCode: 4, reason: 'bad_credentials', message: 'bad user name or password' }
    username = f.username
  } else if (f.anonymousAllowed) {
    // With no password file, a username is taken as given (as Mosquitto does).
    username = f.username
  } else {
    return { ok: false, returnCode: 5, reason: 'anonymous', message: 'anonymous clients are not allowed' }
  }
  if (f.clientIdMustMatch === 'username' && f.clientId !== username) {
    return { ok: false, returnCode: 2, reason: 'client_id', message: 'the client id must equal the user name' }
  }
  if (f.clientIdMustMatch === 'certificate' && f.clientId !== f.certificateName) {
    return { ok: false, returnCode: 2, reason: 'client_id', message: 'the client id must equal the certificate CN' }
  }
  return { ok: true, username }
}

/** auth.allowAnonymous null: anonymous only where nothing else is configured and nobody off this machine can connect. */
export function anonymousAllowed (allowAnonymous: boolean | null, hasPasswordFile: boolean, certificateIdentity: boolean, loopbackOnly: boolean): boolean {
  if (allowAnonymous !== null) return allowAnonymous
  return !hasPasswordFile && !certificateIdentity && loopbackOnly
}
