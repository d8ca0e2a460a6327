/**
 * The HTTP API over the fleet (CONTRACT.md section 6): devices, decommission,
 * the live event stream and the OpenAPI document. Commands live in
 * plugins/commands. Routes only; the token guard, body limit and error shape
 * are broker/http.ts's.
 */
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { definePlugin } from '../../broker/plugin-types.js'
import '../liveness/service.js'
import './decommission-service.js'
import { countHttpRefusal } from '../../broker/http-guard.js'
import { registerDeviceRoutes } from './devices-routes.js'
import { registerEventsRoute, type EventStreams } from './events-route.js'
import { openApiDocument } from './openapi.js'
import { isPlainObject, rejectUnknown } from './validation.js'

export const EVENTS_HEARTBEAT_MS = 15_000

/** The package version for the OpenAPI document, from source (tests) or from dist. */
function packageVersion (): string {
  for (const rel of ['../../package.json', '../../../package.json']) {
    try {
      const pkg = JSON.parse(readFileSync(fileURLToPath(new URL(rel, import.meta.url)), 'utf8')) as { name?: string, version?: string }
      if (pkg.name === 'vigil' && typeof pkg.version === 'string') return pkg.version
    } catch {}
  }
  return '0.0.0'
}

export interface ApiOptions {
  /** Comment heartbeat period of /api/events (tests shorten it). */
  eventsHeartbeatMs?: number
}

export function apiPlugin (options: ApiOptions = {}) {
  return definePlugin({
    name: 'api',
    needs: ['liveness'],
    async setup (ctx) {
      const liveness = ctx.need('liveness')
      const document = JSON.stringify(openApiDocument(packageVersion()))
      let streams: EventStreams | null = null
      return {
        routes (app) {
          registerDeviceRoutes(app, { liveness, decommission: () => ctx.maybe('decommission'), log: ctx.log })
          streams = registerEventsRoute(app, liveness, options.eventsHeartbeatMs ?? EVENTS_HEARTBEAT_MS,
            ctx.vigil.http?.maxEventStreams, () => countHttpRefusal(ctx.metrics, 'events_full'))
          app.get('/api/openapi.json', async (request, reply) => {
            rejectUnknown(isPlainObject(request.query) ? request.query : {}, [], 'query parameter')
            return reply.header('content-type', 'application/json; charset=utf-8').send(document)
          })
        },
        close () {
          streams?.closeAll()
        }
      }
    }
  })
}

export default apiPlugin()
