/**
 * GET /api/openapi.json is generated from the routes (broker/openapi.ts):
 * every route served is in it with a unique operationId, the enumerations are
 * the code's own, the server URL is where this broker serves HTTP, and
 * `redocly lint` (OpenAPI 3.1, recommended rules) finds no error.
 */
import { spawnSync } from 'node:child_process'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import { LIVENESS_STATES, OFFLINE_REASONS } from '../../plugins/liveness/service.js'
import { startBroker } from '../helpers/broker.js'

const REDOCLY = fileURLToPath(new URL('../../node_modules/.bin/redocly', import.meta.url))

interface Doc {
  openapi: string
  servers: Array<{ url: string }>
  paths: Record<string, Record<string, { operationId?: string, responses?: Record<string, unknown>, parameters?: unknown[] }>>
}

t.test('the document lists every route with a unique operationId, from the code\'s own constants', async (t) => {
  const broker = await startBroker(t)
  const res = await broker.http.inject({ url: '/api/openapi.json' })
  t.equal(res.statusCode, 200)
  const doc = res.json() as Doc
  t.equal(doc.openapi, '3.1.0')
  t.same(doc.servers, [{ url: `http://127.0.0.1:${broker.ports.http}` }], 'the server URL is this broker\'s, from the config and the real port')

  const operations = Object.entries(doc.paths).flatMap(([path, item]) =>
    Object.entries(item).filter(([m]) => ['get', 'post', 'put', 'delete', 'patch'].includes(m)).map(([m, op]) => ({ path, method: m, op })))
  for (const { path, method, op } of operations) {
    t.ok(broker.http.hasRoute({ method: method.toUpperCase() as 'GET', url: path.replace(/\{(\w+)\}/g, ':$1') }), `${method} ${path} is served`)
    t.match(op.operationId, /^[a-z][A-Za-z0-9]+$/, `${method} ${path} has an operationId`)
  }
  const ids = operations.map((o) => o.op.operationId)
  t.equal(new Set(ids).size, ids.length, `operationIds are unique: ${ids.join(', ')}`)
  for (const path of ['/healthz', '/readyz', '/metrics', '/api/openapi.json', '/api/devices', '/api/devices/{clientId}', '/api/events']) {
    t.ok(doc.paths[path] !== undefined, `${path} is described`)
  }

  const text = res.body
  const devices = doc.paths['/api/devices']!.get!
  t.same((devices.parameters as Array<{ name: string, schema: { enum: string[] } }>)[0]!.schema.enum, [...LIVENESS_STATES], 'states from the liveness constants')
  for (const reason of OFFLINE_REASONS) t.match(text, `"${reason}"`, `reason ${reason} is listed`)
})

t.test('a route a plugin adds appears in the document by itself', async (t) => {
  const broker = await startBroker(t, {}, {
    plugins: [{ name: 'extra', async setup () { return { routes (app) { app.get('/api/extra/:thing', async () => ({ ok: true })) } } } }]
  })
  const doc = (await broker.http.inject({ url: '/api/openapi.json' })).json() as Doc
  t.match(doc.paths['/api/extra/{thing}']?.get, { operationId: 'getApiExtraThing', parameters: [{ name: 'thing', in: 'path', required: true }] })
})

t.test('redocly lint finds no error in the generated document', async (t) => {
  const broker = await startBroker(t)
  const res = await broker.http.inject({ url: '/api/openapi.json' })
  const dir = mkdtempSync(join(tmpdir(), 'vigil-openapi-'))
  const file = join(dir, 'openapi.json')
  writeFileSync(file, res.body)
  writeFileSync(join(dir, 'redocly.yaml'), 'extends:\n  - recommended\n')
  const lint = spawnSync(process.execPath, [REDOCLY, 'lint', file, '--config', join(dir, 'redocly.yaml'), '--format', 'stylish'],
    { encoding: 'utf8', timeout: 60_000, env: { ...process.env, REDOCLY_TELEMETRY: 'off', REDOCLY_SUPPRESS_UPDATE_NOTICE: 'true' } })
  t.equal(lint.status, 0, `redocly lint: ${lint.stdout}\n${lint.stderr}`)
  const problems = (lint.stdout + lint.stderr).split('\n').filter((l) => /\b(error|warning)\b/.test(l) && /:\s*\d+:\d+/.test(l))
  t.same(problems.filter((l) => /\berror\b/.test(l)), [], 'no errors')
  t.same(problems.filter((l) => !/operation-4xx-response/.test(l)), [],
    'the only warnings: the open health routes (healthz, readyz, metrics) have no 4xx answer')
})

t.test('the document and the handlers agree: each /api route refuses exactly the query parameters it does not document', async (t) => {
  const broker = await startBroker(t)
  const doc = (await broker.http.inject({ url: '/api/openapi.json' })).json() as Doc
  for (const [path, item] of Object.entries(doc.paths)) {
    if (!path.startsWith('/api/')) continue
    for (const [method, op] of Object.entries(item)) {
      const documented = ((op.parameters ?? []) as Array<{ name: string, in: string }>).filter((p) => p.in === 'query').map((p) => p.name)
      const url = path.replace('{clientId}', 'dev-1').replace('{id}', '5a0c9b8e-8f5e-4c1a-9f57-0c2f0e3b7a11')
      const res = await broker.http.inject({ method: method.toUpperCase() as 'GET', url: `${url}?zz=1`, payload: method === 'post' ? {} : undefined })
      t.equal(res.statusCode, 400, `${method} ${path}?zz=1 is refused`)
      t.match(res.json(), { error: 'unknown_field', message: `allowed: ${documented.length > 0 ? documented.join(', ') : 'none'}` },
        `${method} ${path}: the handler allows what the document lists (${documented.join(', ') || 'none'})`)
    }
  }
})

t.test('the documented command body is the one the handler accepts', async (t) => {
  const broker = await startBroker(t)
  const doc = (await broker.http.inject({ url: '/api/openapi.json' })).json() as {
    paths: Record<string, { post?: { requestBody: { content: Record<string, { schema: { properties: Record<string, unknown>, required: string[] } }> } } }>
  }
  const schema = doc.paths['/api/devices/{clientId}/commands']!.post!.requestBody.content['application/json']!.schema
  const res = await broker.http.inject({ method: 'POST', url: '/api/devices/dev-1/commands', payload: { command: 'x', zz: 1 } })
  t.equal(res.statusCode, 400)
  t.match(res.json(), { error: 'unknown_field', message: `allowed: ${Object.keys(schema.properties).join(', ')}` },
    'an unknown body field is refused, naming exactly the documented fields')
  const missing = await broker.http.inject({ method: 'POST', url: '/api/devices/dev-1/commands', payload: {} })
  t.equal(missing.statusCode, 400, `the documented required field (${schema.required.join(', ')}) is required`)
})
