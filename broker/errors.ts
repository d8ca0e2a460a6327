/**
 * The one catalogue of Vigil's coded errors. Each code has a stable name users
 * can search for; the message says what to do; `cause` keeps the original.
 */
export const ERROR_CODES = {
  VIGIL_E_CONFIG: 'invalid configuration',
  VIGIL_E_LISTEN: 'a listener could not start',
  VIGIL_E_REDIS: 'Redis is unreachable or failed',
  VIGIL_E_TLS: 'TLS material could not be loaded',
  VIGIL_E_PLUGIN: 'a plugin failed',
  VIGIL_E_PLUGIN_SETUP: 'a plugin could not start',
  VIGIL_E_SERVICE: 'a plugin needs a service nobody provides',
  VIGIL_E_PACKET_TOO_LARGE: 'a client sent a packet over mqtt.maxPacketSize',
  VIGIL_E_CONNECT_REFUSED: 'a CONNECT was refused',
  VIGIL_E_PUBLISH_REFUSED: 'a PUBLISH was refused',
  VIGIL_E_SUBSCRIBE_REFUSED: 'a SUBSCRIBE was refused',
  VIGIL_E_SHUTDOWN: 'shutdown did not complete cleanly',
  VIGIL_E_HTTP: 'bad HTTP request',
  VIGIL_E_PROTOCOL: 'a client sent a malformed or illegal packet',
  VIGIL_E_WORKER: 'a worker process died or did not answer'
} as const

export type ErrorCode = keyof typeof ERROR_CODES

export class VigilError extends Error {
  readonly code: ErrorCode
  constructor (code: ErrorCode, message: string, cause?: unknown) {
    super(message, cause === undefined ? undefined : { cause })
    this.name = 'VigilError'
    this.code = code
  }
}

/** MQTT 3.1.1 CONNACK return codes [MQTT-3.2.2-3]. */
export const ConnackCode = {
  UNACCEPTABLE_PROTOCOL: 1,
  IDENTIFIER_REJECTED: 2,
  SERVER_UNAVAILABLE: 3,
  BAD_USERNAME_OR_PASSWORD: 4,
  NOT_AUTHORIZED: 5
} as const
export type ConnackReturnCode = typeof ConnackCode[keyof typeof ConnackCode]

/**
 * Thrown by preConnect/authenticate hooks to refuse a client; the host turns it
 * into the CONNACK return code (Aedes writes it, then closes [MQTT-3.2.2-5]).
 */
export class ConnectRefused extends VigilError {
  readonly returnCode: ConnackReturnCode
  constructor (returnCode: ConnackReturnCode, message: string) {
    super('VIGIL_E_CONNECT_REFUSED', message)
    this.returnCode = returnCode
  }
}

/**
 * Thrown by authorizePublish hooks to refuse a PUBLISH the quiet way: it is
 * acknowledged (QoS 1/2) but neither delivered nor stored, and the client
 * stays connected [MQTT-3.3.5-2]. Any other throw closes the client.
 */
export class PublishDenied extends VigilError {
  constructor (message: string) {
    super('VIGIL_E_PUBLISH_REFUSED', message)
  }
}

export function errorMessage (err: unknown): string {
  return err instanceof Error ? err.message : String(err)
}
