/**
 * Request checks shared by the API routes: unknown fields are refused (a typo
 * must not silently mean the default), every refusal names the field.
 */
import { CLIENT_KINDS, LIVENESS_STATES, type ClientKind, type LivenessState } from '../liveness/service.js'
import { badRequest } from './http-errors.js'

export type Fields = Record<string, unknown>

export function isPlainObject (value: unknown): value is Fields {
  return value !== null && typeof value === 'object' && !Array.isArray(value)
}

/** Refuse any key not in `allowed`; `where` names the place ("body field", "query parameter"). */
export function rejectUnknown (fields: Fields, allowed: readonly string[], where: string): void {
  for (const key of Object.keys(fields)) {
    if (!allowed.includes(key)) {
      throw badRequest('unknown_field', `unknown ${where} "${key}" (allowed: ${allowed.length > 0 ? allowed.join(', ') : 'none'})`)
    }
  }
}

/** `?state=` of GET /api/devices: absent, or one of the liveness states. */
export function parseStateQuery (query: unknown): LivenessState | undefined {
  const fields = isPlainObject(query) ? query : {}
  rejectUnknown(fields, ['state', 'kind', 'limit', 'after'], 'query parameter')
  const state = fields.state
  if (state === undefined) return undefined
  if (typeof state !== 'string' || !(LIVENESS_STATES as readonly string[]).includes(state)) {
    throw badRequest('bad_state', `state must be one of ${LIVENESS_STATES.join(', ')} (got ${JSON.stringify(state)})`)
  }
  return state as LivenessState
}

/** Route parameter :clientId, as fastify decoded it. MQTT client ids are 1..65535 bytes [MQTT-3.1.3-5]. */
export function clientIdParam (params: unknown): string {
  const clientId = isPlainObject(params) ? params.clientId : undefined
  if (typeof clientId !== 'string' || clientId.length === 0) throw badRequest('bad_client_id', 'a client id is needed in the path')
  if (Buffer.byteLength(clientId) > 65535) throw badRequest('bad_client_id', 'a client id is at most 65535 bytes')
  return clientId
}

/** `?kind=` of GET /api/devices: devices (the default), observers, or all clients. */
export function parseKindQuery (query: unknown): ClientKind | 'all' {
  const kind = isPlainObject(query) ? query.kind : undefined
  if (kind === undefined) return 'device'
  const allowed: readonly string[] = [...CLIENT_KINDS, 'all']
  if (typeof kind !== 'string' || !allowed.includes(kind)) {
    throw badRequest('bad_kind', `kind must be one of ${allowed.join(', ')} (got ${JSON.stringify(kind)})`)
  }
  return kind as ClientKind | 'all'
}

/** `?since=<ms>`: absent (0), or a non-negative integer of milliseconds since the Unix epoch. */
export function parseSinceQuery (query: unknown): number {
  const fields = isPlainObject(query) ? query : {}
  rejectUnknown(fields, ['since'], 'query parameter')
  const since = fields.since
  if (since === undefined) return 0
  const value = typeof since === 'string' && /^\d{1,16}$/.test(since) ? Number(since) : Number.NaN
  if (!Number.isSafeInteger(value)) {
    throw badRequest('bad_since', `since must be milliseconds since the Unix epoch, a non-negative integer (got ${JSON.stringify(since)})`)
  }
  return value
}
