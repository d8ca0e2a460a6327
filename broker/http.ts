/**
 * The HTTP server: health, readiness, metrics and the API routes plugins add.
 * Built as a fastify app from services; tests use `inject` and never listen.
 * Every client mistake is a 4xx JSON {error, message}; never a 500 for it.
 */
import Fastify, { type FastifyError, type FastifyInstance } from 'fastify'
import type { Registry } from 'prom-client'
import { installHttpGuard, registerHttpRefusals, tokenMatches } from './http-guard.js'
import type { Logger } from './logger.js'

export const BODY_LIMIT = 64 * 1024

/** Fastify's own client-error codes -> the API's stable `error` codes. */
const ERROR_CODE_BY_FASTIFY_CODE: Record<string, string> = {
  FST_ERR_CTP_BODY_TOO_LARGE: 'body_too_large',
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'unsupported_media_type',
  FST_ERR_CTP_EMPTY_JSON_BODY: 'bad_json',
  FST_ERR_CTP_INVALID_JSON_BODY: 'bad_json',
  FST_ERR_VALIDATION: 'bad_request'
}

export interface HttpDeps {
  log: Logger
  metrics: Registry
  token: string | null
  /** GET /api/* only (dashboards). */
  readToken?: string | null
  /** HTTPS with this certificate and key (PEM text). */
  tls?: { cert: Buffer, key: Buffer } | null
  /** Requests per source address per window; over it 429 with Retry-After. */
  rateLimit?: { requests: number, window: number } | null
  /** Listeners up and persistence answering. */
  ready(): Promise<{ ok: boolean, reason?: string }>
  /** Routes contributed by plugins (the API, commands, events). */
  routes: ReadonlyArray<(app: FastifyInstance) => void>
}

/** Kept for callers of the old name: the guard's constant-time compare. */
export const bearerMatches = tokenMatches

export function buildHttpApp (deps: HttpDeps): FastifyInstance {
  const app = (deps.tls != null
    ? Fastify({ logger: false, bodyLimit: BODY_LIMIT, return503OnClosing: true, https: deps.tls })
    : Fastify({ logger: false, bodyLimit: BODY_LIMIT, return503OnClosing: true })) as unknown as FastifyInstance
  installHttpGuard(app, { token: deps.token, readToken: deps.readToken ?? null, rateLimit: deps.rateLimit ?? null },
    registerHttpRefusals(deps.metrics))

  app.setErrorHandler((err: FastifyError, request, reply) => {
    const status = err.statusCode !== undefined && err.statusCode >= 400 ? err.statusCode : 500
    // A coded 5xx (501: no plugin provides the service; 503: retry later) is a deliberate answer, not a crash.
    if (status >= 500 && (err as { vigilCode?: string }).vigilCode === undefined) {
      deps.log.error({ err: err.message, url: request.url, method: request.method }, 'http handler failed')
      return reply.code(status).send({ error: 'internal', message: 'internal error' })
    }
    const code = ERROR_CODE_BY_FASTIFY_CODE[err.code] ??
      (err as { vigilCode?: string }).vigilCode ??
      ((err as { name?: string }).name === 'SyntaxError' ? 'bad_json' : 'bad_request')
    return reply.code(status).send({ error: code, message: err.message })
  })
  app.setNotFoundHandler((request, reply) => {
    reply.code(404).send({ error: 'not_found', message: `no route ${request.method} ${request.url.split('?')[0]}` })
  })

  app.get('/healthz', async () => ({ status: 'ok' }))
  app.get('/readyz', async (_request, reply) => {
    const state = await deps.ready()
    if (state.ok) return { status: 'ready' }
    return reply.code(503).send({ status: 'unready', reason: state.reason ?? 'not ready' })
  })
  app.get('/metrics', async (_request, reply) => {
    const body = await deps.metrics.metrics()
    return reply.header('content-type', deps.metrics.contentType).send(body)
  })

  for (const register of deps.routes) register(app)
  return app
}
