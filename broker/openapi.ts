/**
 * The OpenAPI 3.1 document, generated from the routes themselves (issue 13):
 * each route carries its description in fastify's `schema` route option
 * (operationId, summary, params, querystring, body, responses), the app
 * collects every route as it is registered (an onRoute hook), and the
 * document is built from that list: every route served is listed (one that
 * describes nothing is listed as such), and nothing is listed that is not
 * served. Enumerations (states, reasons) come from the code's own constants;
 * the server URL from the config (the real port once listening).
 *
 * The schemas document; they are not compiled. The handlers check requests
 * themselves, with the stable error codes of the API (`unknown_field`,
 * `bad_state`...), and test/integration/openapi.test.ts checks that they
 * accept what the document says. Responses are objects other plugins may
 * extend. So a documented route gets per-route compilers that accept and
 * serialize as is, which leaves every other route's validation alone.
 */
import type { FastifyInstance, FastifySchema, RouteOptions } from 'fastify'

declare module 'fastify' {
  interface FastifySchema {
    operationId?: string
    summary?: string
    description?: string
    tags?: readonly string[]
    /** [] for a route open without the token. */
    security?: ReadonlyArray<Record<string, readonly string[]>>
  }
}

export type JsonSchema = Record<string, unknown>

export interface ResponseDoc {
  description: string
  /** Media type -> schema ('application/json', 'text/event-stream'...). */
  content?: Record<string, { schema: JsonSchema }>
}

export interface RouteDoc {
  operationId: string
  summary: string
  description?: string
  tags?: readonly string[]
  /** Open without the bearer token (health, metrics). */
  open?: boolean
  /** Path parameters: name -> schema (and `description`). */
  params?: Record<string, JsonSchema>
  /** Query parameters: name -> schema; none means none are accepted. */
  query?: Record<string, JsonSchema>
  body?: { description?: string, content: Record<string, { schema: JsonSchema }> }
  responses: Record<number, ResponseDoc>
}

/** A JSON response with `schema`. */
export const json = (description: string, schema: JsonSchema): ResponseDoc =>
  ({ description, content: { 'application/json': { schema } } })

/** The error shape every 4xx and coded 5xx has: {"error","message"}. */
export const ERROR_SCHEMA: JsonSchema = {
  type: 'object',
  required: ['error', 'message'],
  properties: {
    error: { type: 'string', description: 'A stable code, e.g. bad_json, unknown_field, device_offline' },
    message: { type: 'string' }
  }
}
export const errorResponse = (description: string): ResponseDoc => json(description, ERROR_SCHEMA)

const accept = (): (data: unknown) => boolean => () => true
const asIs = (): (data: unknown) => string => (data) => JSON.stringify(data)

/** Route options for a documented route: its description as fastify's schema, not compiled (see above). */
export function documented (doc: RouteDoc): Pick<RouteOptions, 'schema' | 'validatorCompiler' | 'serializerCompiler'> {
  const schema: FastifySchema = {
    operationId: doc.operationId,
    summary: doc.summary,
    ...(doc.description !== undefined ? { description: doc.description } : {}),
    ...(doc.tags !== undefined ? { tags: doc.tags } : {}),
    ...(doc.open === true ? { security: [] } : {}),
    ...(doc.params !== undefined ? { params: objectOf(doc.params, Object.keys(doc.params)) } : {}),
    querystring: objectOf(doc.query ?? {}, []),
    ...(doc.body !== undefined ? { body: doc.body } : {}),
    response: doc.responses
  }
  return { schema, validatorCompiler: accept, serializerCompiler: asIs }
}

function objectOf (properties: Record<string, JsonSchema>, required: string[]): JsonSchema {
  return { type: 'object', properties, required, additionalProperties: false }
}

interface CollectedRoute { method: string, url: string, schema: FastifySchema | undefined }

/** Collects every route of `app` as it is registered; call before any route is added. */
export function collectRoutes (app: FastifyInstance): readonly CollectedRoute[] {
  const routes: CollectedRoute[] = []
  app.addHook('onRoute', (route) => {
    for (const method of [route.method].flat()) {
      // fastify adds a HEAD for every GET itself.
      if (method === 'HEAD' && route.exposeHeadRoute !== false && routes.some((r) => r.url === route.url && r.method === 'GET')) continue
      routes.push({ method, url: route.url, schema: route.schema as FastifySchema | undefined })
    }
  })
  return routes
}

export interface DocumentInfo {
  title: string
  version: string
  description: string
  serverUrl: string
}

/** `/api/devices/:clientId` -> `/api/devices/{clientId}` */
const openApiPath = (url: string): string => url.replace(/:(\w+)/g, '{$1}')

/** `GET /api/devices/:clientId/history` -> `getApiDevicesClientIdHistory`, for a route that names none. */
function defaultOperationId (method: string, url: string): string {
  const words = url.split(/[^A-Za-z0-9]+/).filter((w) => w !== '')
  return method.toLowerCase() + words.map((w) => w[0]!.toUpperCase() + w.slice(1)).join('')
}

export function openApiDocument (routes: readonly CollectedRoute[], info: DocumentInfo): JsonSchema {
  const paths: Record<string, Record<string, unknown>> = {}
  for (const { method, url, schema } of routes) {
    if (method === 'HEAD' || method === 'OPTIONS') continue
    const path = openApiPath(url)
    const item = paths[path] ??= {}
    item[method.toLowerCase()] = operation(method, url, schema)
  }
  return {
    openapi: '3.1.0',
    info: { title: info.title, version: info.version, description: info.description, license: { name: 'MIT', identifier: 'MIT' } },
    servers: [{ url: info.serverUrl }],
    security: [{ bearer: [] }],
    paths: Object.fromEntries(Object.entries(paths).sort(([a], [b]) => a < b ? -1 : a > b ? 1 : 0)),
    components: {
      securitySchemes: { bearer: { type: 'http', scheme: 'bearer', description: 'http.token from the config' } }
    }
  }
}

function operation (method: string, url: string, schema: FastifySchema | undefined): JsonSchema {
  const pathParams = [...url.matchAll(/:(\w+)/g)].map((m) => m[1]!)
  if (schema?.operationId === undefined) {
    // A route a plugin added without describing it: listed, so it is visible, with what is known.
    return {
      operationId: defaultOperationId(method, url),
      summary: `${method} ${openApiPath(url)}`,
      description: 'Not described by the plugin that serves it.',
      ...(pathParams.length > 0 ? { parameters: pathParams.map((name) => ({ name, in: 'path', required: true, schema: { type: 'string' } })) } : {}),
      responses: { default: { description: 'See the plugin\'s documentation' } }
    }
  }
  const params = (schema.params as { properties?: Record<string, JsonSchema> } | undefined)?.properties ?? {}
  const query = (schema.querystring as { properties?: Record<string, JsonSchema>, required?: string[] } | undefined) ?? {}
  const parameters = [
    ...pathParams.map((name) => parameter(name, 'path', true, params[name] ?? { type: 'string' })),
    ...Object.entries(query.properties ?? {}).map(([name, s]) => parameter(name, 'query', (query.required ?? []).includes(name), s))
  ]
  const body = schema.body as RouteDoc['body'] | undefined
  return {
    operationId: schema.operationId,
    summary: schema.summary,
    ...(schema.description !== undefined ? { description: schema.description } : {}),
    ...(schema.tags !== undefined ? { tags: schema.tags } : {}),
    ...(schema.security !== undefined ? { security: schema.security } : {}),
    ...(parameters.length > 0 ? { parameters } : {}),
    ...(body !== undefined ? { requestBody: { required: true, ...body } } : {}),
    responses: Object.fromEntries(Object.entries(schema.response as Record<string, ResponseDoc> ?? {})
      .map(([code, response]) => [code, response]))
  }
}

function parameter (name: string, where: 'path' | 'query', required: boolean, schema: JsonSchema): JsonSchema {
  const { description, ...rest } = schema as { description?: string }
  return { name, in: where, required, ...(description !== undefined ? { description } : {}), schema: rest }
}
