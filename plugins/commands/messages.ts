/**
 * What travels on the command path (docs/http-api.md and docs/device-protocol.md): the POST
 * body, the command the device receives, its ack, and the record the API
 * keeps. Parsing and shaping only; pure.
 */
import { parseDuration } from '../../config/duration.js'
import { badRequest } from '../api/http-errors.js'
import { isPlainObject, rejectUnknown } from '../api/validation.js'

/** One attempt may wait at most this long: an HTTP request that waits hours helps nobody. */
export const MAX_TIMEOUT_MS = 5 * 60_000
export const MAX_RETRIES = 10
export const MAX_COMMAND_LENGTH = 256

export interface CommandRequest {
  command: string
  args: Record<string, unknown>
  timeoutMs: number
  retries: number
}

/** Validate a POST body against the defaults of the `commands` config section. */
export function parseCommandRequest (body: unknown, defaults: { timeout: number, retries: number }): CommandRequest {
  if (!isPlainObject(body)) throw badRequest('bad_request', 'the body must be a JSON object like {"command":"reboot"}')
  rejectUnknown(body, ['command', 'args', 'timeout', 'retries'], 'body field')
  const { command, args, timeout, retries } = body
  if (typeof command !== 'string' || command.length === 0 || command.length > MAX_COMMAND_LENGTH) {
    throw badRequest('bad_command', `command must be a non-empty string of at most ${MAX_COMMAND_LENGTH} characters`)
  }
  if (args !== undefined && !isPlainObject(args)) throw badRequest('bad_args', 'args must be a JSON object')
  let timeoutMs = defaults.timeout
  if (timeout !== undefined) {
    const ms = parseDuration(timeout)
    if (ms === null || ms <= 0 || ms > MAX_TIMEOUT_MS) {
      throw badRequest('bad_duration', `timeout must be a duration above 0 and at most 5m: seconds as a number, or a string like 250ms, 10s, 2m (got ${JSON.stringify(timeout)})`)
    }
    timeoutMs = ms
  }
  let retryCount = defaults.retries
  if (retries !== undefined) {
    if (typeof retries !== 'number' || !Number.isInteger(retries) || retries < 0 || retries > MAX_RETRIES) {
      throw badRequest('bad_retries', `retries must be an integer from 0 to ${MAX_RETRIES} (got ${JSON.stringify(retries)})`)
    }
    retryCount = retries
  }
  return { command, args: args ?? {}, timeoutMs, retries: retryCount }
}

/** The command as published to the device; every attempt sends these same bytes. */
export function commandPayload (id: string, request: CommandRequest, ts: number): Buffer {
  return Buffer.from(JSON.stringify({ id, command: request.command, args: request.args, ts }))
}

export interface Ack { id: string, status: 'ok' | 'error', result: unknown }

/** A device's ack, or null for anything that is not one (ignored, never fatal). */
export function parseAck (payload: Buffer | string): Ack | null {
  let value: unknown
  try {
    value = JSON.parse(typeof payload === 'string' ? payload : payload.toString('utf8'))
  } catch {
    return null
  }
  if (!isPlainObject(value) || typeof value.id !== 'string') return null
  if (value.status !== 'ok' && value.status !== 'error') return null
  return { id: value.id, status: value.status, result: value.result ?? null }
}

export type CommandRecord =
  | { id: string, status: 'pending', attempts: number, silent?: true }
  | { id: string, status: 'acked' | 'failed', result: unknown, attempts: number, latencyMs: number, silent?: true }
  | { id: string, status: 'timeout', attempts: number, silent?: true }

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i

export function isCommandId (id: unknown): id is string {
  return typeof id === 'string' && UUID_RE.test(id)
}
