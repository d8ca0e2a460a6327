/**
 * What stands in front of the HTTP routes (issue 14): bearer tokens compared
 * in constant time (`http.token` opens /api/*, `http.readToken` GET /api/*
 * only), and a per-source-address request budget (429 with Retry-After).
 * `/`, health, readiness and metrics need no token (the fleet page asks for
 * it itself). Every refusal is counted in vigil_http_refused_total{reason}.
 */
import { createHash, timingSafeEqual } from 'node:crypto'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { Counter, type Registry } from 'prom-client'

export const HTTP_REFUSALS = ['unauthorized', 'forbidden', 'rate_limited', 'events_full'] as const
export type HttpRefusal = typeof HTTP_REFUSALS[number]

export interface HttpGuardOptions {
  token: string | null
  readToken: string | null
  rateLimit: { requests: number, window: number } | null
  now?: () => number
}

const digest = (text: string): Buffer => createHash('sha256').update(text).digest()

/**
 * Constant-time: both sides are hashed to 32 bytes first, so neither the
 * content nor the length of the token leaks through timing.
 */
export function tokenMatches (header: string | undefined, token: string): boolean {
  if (header === undefined || !header.startsWith('Bearer ')) return false
  return timingSafeEqual(digest(header.slice(7)), digest(token))
}

export function registerHttpRefusals (registry: Registry): (reason: HttpRefusal) => void {
  const refused = new Counter({
    name: 'vigil_http_refused_total',
    help: 'HTTP requests refused: bad or missing token, over the per-address rate, event streams over http.maxEventStreams',
    labelNames: ['reason'],
    registers: [registry]
  })
  for (const reason of HTTP_REFUSALS) refused.inc({ reason }, 0)
  return (reason) => refused.inc({ reason })
}

/** For routes that plugins add (they run after the app, and its counter, exist). */
export function countHttpRefusal (registry: Registry, reason: HttpRefusal): void {
  (registry.getSingleMetric('vigil_http_refused_total') as Counter<'reason'> | undefined)?.inc({ reason })
}

/** Fixed windows per address, bounded: at most `maxAddresses` tracked (the oldest window goes first). */
export class RequestBudget {
  readonly #requests: number
  readonly #window: number
  readonly #max: number
  readonly #byAddress = new Map<string, { start: number, count: number }>()

  constructor (requests: number, window: number, maxAddresses = 50_000) {
    this.#requests = requests
    this.#window = window
    this.#max = maxAddresses
  }

  /** null when allowed, else the seconds until the address's window ends. */
  take (address: string, now: number): number | null {
    let entry = this.#byAddress.get(address)
    if (entry === undefined || now - entry.start >= this.#window) {
      this.#byAddress.delete(address)
      if (this.#byAddress.size >= this.#max) {
        const oldest = this.#byAddress.keys().next()
        if (oldest.done !== true) this.#byAddress.delete(oldest.value)
      }
      entry = { start: now, count: 0 }
      this.#byAddress.set(address, entry)
    }
    entry.count++
    if (entry.count <= this.#requests) return null
    return Math.max(1, Math.ceil((entry.start + this.#window - now) / 1000))
  }
}

export function installHttpGuard (app: FastifyInstance, options: HttpGuardOptions, refused: (reason: HttpRefusal) => void): void {
  const now = options.now ?? Date.now
  const budget = options.rateLimit !== null ? new RequestBudget(options.rateLimit.requests, options.rateLimit.window) : null
  const { token, readToken } = options
  const deny = (reply: FastifyReply, status: 401 | 403, reason: HttpRefusal, message: string): FastifyReply => {
    refused(reason)
    if (status === 401) reply.header('www-authenticate', 'Bearer')
    return reply.code(status).send({ error: reason, message })
  }
  app.addHook('onRequest', async (request: FastifyRequest, reply: FastifyReply) => {
    if (budget !== null) {
      const retryAfter = budget.take(request.ip, now())
      if (retryAfter !== null) {
        refused('rate_limited')
        return reply.code(429).header('retry-after', String(retryAfter)).send({
          error: 'rate_limited', message: `too many requests from this address; retry in ${retryAfter} s`
        })
      }
    }
    if (!request.url.startsWith('/api/') || (token === null && readToken === null)) return
    const header = request.headers.authorization
    if (token !== null && tokenMatches(header, token)) return
    const reading = request.method === 'GET' || request.method === 'HEAD'
    if (readToken !== null && tokenMatches(header, readToken)) {
      if (reading) return
      return deny(reply, 403, 'forbidden', 'http.readToken opens GET /api/* only; this needs http.token')
    }
    return deny(reply, 401, 'unauthorized', reading
      ? 'this route needs Authorization: Bearer <http.token or http.readToken>'
      : 'this route needs Authorization: Bearer <http.token>')
  })
}
