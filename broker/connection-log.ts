/**
 * Operator log of connections (issue 13), at `info`: connects, disconnects
 * with their reason, takeovers, refused CONNECTs, refused publishes and
 * protocol errors, each with clientId, username and remote address. Every kind
 * is rate-limited (broker/log-limiter.ts): a flood writes a bounded number of
 * lines and a summary with the count held back. An observer: it decides nothing.
 */
import type { Aedes, Client } from 'aedes'
import { connectInfo, errorKeepsConnection, remoteAddress, sentDisconnect, type ConnectRefusal } from './aedes/index.js'
import { errorMessage } from './errors.js'
import { LogLimiter, type LimitPolicy, type Suppressed } from './log-limiter.js'
import type { Logger } from './logger.js'
import { realScheduler, type Scheduler } from './scheduler.js'

export const LOG_EVENTS = ['connect', 'disconnect', 'takeover', 'connect_refused', 'publish_refused',
  'protocol_error', 'connect_timeout'] as const
export type LogEvent = typeof LOG_EVENTS[number]

const MESSAGES: Record<LogEvent, string> = {
  connect: 'client connected',
  disconnect: 'client disconnected',
  takeover: 'client taken over by a new connection with its clientId',
  connect_refused: 'connect refused',
  publish_refused: 'publish refused',
  protocol_error: 'protocol error before CONNECT',
  connect_timeout: 'no CONNECT in time'
}

export interface ConnectionLogOptions {
  policy: LimitPolicy
  /** The clock of the rate limit and the timer of its summaries (default: the real ones). */
  scheduler?: Scheduler
  /** How a client's connection ended (the liveness reason), when known. */
  reasonOf?: (client: Client) => string | undefined
}

export interface ConnectionLog {
  /** A CONNECT refused before Aedes saw it (broker/aedes/strict-packets.ts). */
  refused(refusal: ConnectRefusal): void
  close(): void
}

const CONNACK_TEXT: Record<number, string> = {
  1: 'unacceptable protocol version', 2: 'identifier rejected', 3: 'server unavailable',
  4: 'bad user name or password', 5: 'not authorized'
}

/** Transport failures carry a system code (ECONNRESET, EPIPE, ERR_..., WS_ERR_...); Vigil's own a VIGIL_E_ one. */
function isTransportError (err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code
  return typeof code === 'string' && !code.startsWith('VIGIL_E_')
}

export function logConnections (broker: Aedes, log: Logger, options: ConnectionLogOptions): ConnectionLog {
  const scheduler = options.scheduler ?? realScheduler()
  const now = (): number => scheduler.now()
  const limiter = new LogLimiter<LogEvent>(options.policy)
  const refusedCode = new WeakMap<Client, number>()
  const lastError = new WeakMap<Client, unknown>()

  const summarize = (s: Suppressed<LogEvent>): void => {
    log.info({ event: s.kind, suppressed: s.suppressed, windowMs: s.to - s.from },
      `${s.suppressed} "${MESSAGES[s.kind]}" lines suppressed (log.rateLimit)`)
  }
  const write = (event: LogEvent, fields: Record<string, unknown>, msg = MESSAGES[event]): void => {
    if (!log.isLevelEnabled('info')) return
    const { write, summary } = limiter.admit(event, now())
    if (summary !== null) summarize(summary)
    if (write) log.info({ event, ...fields }, msg)
  }
  const who = (client: Client): Record<string, unknown> => {
    const info = connectInfo(client)
    return { clientId: client.id ?? info?.clientId ?? null, username: info?.username ?? null, address: info?.address ?? remoteAddress(client) }
  }

  // The per-connection lines build their fields only when they will be written (issue 15: per-connect work).
  broker.on('clientReady', (client) => {
    if (!log.isLevelEnabled('info')) return
    const info = connectInfo(client)
    write('connect', { ...who(client), keepalive: info?.keepalive ?? null, clean: info?.clean ?? client.clean })
  })
  broker.on('connackSent', (packet: { returnCode?: number }, client: Client) => {
    if ((packet.returnCode ?? 0) !== 0) refusedCode.set(client, packet.returnCode!)
  })
  const refusedByAedes = (client: Client, err: Error): boolean => {
    const returnCode = refusedCode.get(client)
    if (returnCode === undefined) return false
    refusedCode.delete(client)
    write('connect_refused', { ...who(client), returnCode, reason: errorMessage(err) || CONNACK_TEXT[returnCode] })
    return true
  }
  broker.on('clientError', (client, err) => {
    if (refusedByAedes(client, err)) return
    // An MQTT 5 client keeps its connection after a refused PUBLISH (0x87 PUBACK): not why it ends.
    if (!errorKeepsConnection(client, err) && !lastError.has(client)) lastError.set(client, err)
    if ((err as { code?: unknown }).code === 'VIGIL_E_PUBLISH_REFUSED') write('publish_refused', { ...who(client), reason: err.message })
  })
  broker.on('connectionError', (client, err) => {
    if (refusedByAedes(client, err)) return
    if (err.message === 'connect did not arrive in time') return write('connect_timeout', { address: remoteAddress(client) })
    if (isTransportError(err)) {
      log.debug({ address: remoteAddress(client), err: errorMessage(err) }, 'connection error before CONNECT')
      return
    }
    write('protocol_error', { ...who(client), reason: errorMessage(err) })
  })
  broker.on('clientDisconnect', (client) => {
    if (!log.isLevelEnabled('info')) return
    const err = lastError.get(client)
    const fallback = (): string => sentDisconnect(client)
      ? 'graceful'
      : err !== undefined && !isTransportError(err) ? 'protocol_error' : 'connection_lost'
    const reason = options.reasonOf?.(client) ?? fallback()
    const fields = { ...who(client), reason, ...(err !== undefined ? { err: errorMessage(err) } : {}) }
    if (reason === 'takeover') write('takeover', fields)
    else write('disconnect', fields)
  })

  const timer = scheduler.every(options.policy.windowMs, () => { for (const s of limiter.flush(now())) summarize(s) })

  return {
    refused (refusal) {
      const { info } = refusal
      write('connect_refused', { clientId: info.clientId, username: info.username, address: info.address,
        returnCode: refusal.returnCode, reason: refusal.reason, keepalive: info.keepalive, clean: info.clean })
    },
    close () {
      timer.cancel()
      for (const s of limiter.flush(now(), true)) summarize(s)
    }
  }
}
