/**
 * The HTTP server: health, readiness, metrics and the API routes plugins add.
 * Built as a fastify app from services; tests use `inject` and never listen.
 * Every client mistake is a 4xx JSON {error, message}; never a 500 for it.
 */
import Fastify, { type FastifyError, type FastifyInstance } from 'fastify'
import type { Registry } from 'prom-client'
import { installHttpGuard, registerHttpRefusals, tokenMatches } from './http-guard.js'
import type { Logger } from './logger.js'
import { collectRoutes, documented, errorResponse, json, openApiDocument, type RouteDoc } from './openapi.js'

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
  /** For GET /api/openapi.json: the package version and where the API is served (from the config). */
  openapi?: { version: string, serverUrl(): string }
  /** What /metrics serves instead of `metrics` itself (a cluster worker: the sum over the workers). */
  scrape?: (() => Promise<string>) | undefined
}

const HEALTHZ: RouteDoc = {
  operationId: 'getHealth',
  summary: 'The process runs',
  tags: ['health'],
  open: true,
  responses: { 200: json('Alive', { type: 'object', properties: { status: { const: 'ok' } } }) }
}

const READYZ: RouteDoc = {
  operationId: 'getReadiness',
  summary: 'Listeners are up and Redis (if configured) answers',
  tags: ['health'],
  open: true,
  responses: {
    200: json('Ready', { type: 'object', properties: { status: { const: 'ready' } } }),
    503: json('Not ready', { type: 'object', properties: { status: { const: 'unready' }, reason: { type: 'string' } } })
  }
}

const METRICS: RouteDoc = {
  operationId: 'getMetrics',
  summary: 'Prometheus metrics (text exposition format)',
  tags: ['health'],
  open: true,
  responses: { 200: { description: 'Metrics', content: { 'text/plain': { schema: { type: 'string' } } } } }
}

const OPENAPI: RouteDoc = {
  operationId: 'getOpenApi',
  summary: 'This document, generated from the routes',
  tags: ['health'],
  responses: {
    200: json('OpenAPI 3.1 document', { type: 'object' }),
    400: errorResponse('Unknown query parameter'),
    401: errorResponse('Missing or wrong bearer token')
  }
}

const API_DESCRIPTION = 'Liveness of MQTT devices (online, silent, offline), commands that wait for the device\'s ack, ' +
  'live transitions as Server-Sent Events, health and Prometheus metrics. Every client error is a 4xx ' +
  'JSON `{"error","message"}`. When `http.token` is set, every `/api/*` route needs ' +
  '`Authorization: Bearer <token>`, and `http.readToken` opens the GET routes only (403 for others); ' +
  '`/healthz`, `/readyz` and `/metrics` stay open. Requests over `http.rateLimit` per address get 429 with `Retry-After`.'

/** Kept for callers of the old name: the guard's constant-time compare. */
export const bearerMatches = tokenMatches

export function buildHttpApp (deps: HttpDeps): FastifyInstance {
  // Not an Aedes cast: Fastify's overloads type an https instance and a plain one apart, and the
  // routes are written against the plain FastifyInstance; at run time both are the same API.
  const app = (deps.tls != null
    ? Fastify({ logger: false, bodyLimit: BODY_LIMIT, return503OnClosing: true, https: deps.tls })
    : Fastify({ logger: false, bodyLimit: BODY_LIMIT, return503OnClosing: true })) as unknown as FastifyInstance
  const routes = collectRoutes(app)
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

  app.get('/healthz', documented(HEALTHZ), async () => ({ status: 'ok' }))
  app.get('/readyz', documented(READYZ), async (_request, reply) => {
    const state = await deps.ready()
    if (state.ok) return { status: 'ready' }
    return reply.code(503).send({ status: 'unready', reason: state.reason ?? 'not ready' })
  })
  app.get('/metrics', documented(METRICS), async (_request, reply) => {
    const body = deps.scrape !== undefined ? await deps.scrape() : await deps.metrics.metrics()
    return reply.header('content-type', deps.metrics.contentType).send(body)
  })

  let document: string | null = null
  app.get('/api/openapi.json', documented(OPENAPI), async (request, reply) => {
    const query = request.query as Record<string, unknown> | null
    const unknown = query !== null && typeof query === 'object' ? Object.keys(query)[0] : undefined
    if (unknown !== undefined) {
      return reply.code(400).send({ error: 'unknown_field', message: `unknown query parameter "${unknown}" (allowed: none)` })
    }
    // Built on first use: every plugin's routes are registered by then.
    document ??= JSON.stringify(openApiDocument(routes, {
      title: 'Vigil HTTP API',
      version: deps.openapi?.version ?? '0.0.0',
      description: API_DESCRIPTION,
      serverUrl: deps.openapi?.serverUrl() ?? 'http://127.0.0.1:8080'
    }))
    return reply.header('content-type', 'application/json; charset=utf-8').send(document)
  })

  for (const register of deps.routes) register(app)
  return app
}
