/**
 * The HTTP API over the fleet (docs/http-api.md): devices, decommission,
 * the live event stream (the OpenAPI document is broker/http.ts's, made from
 * every route). Commands live in
 * plugins/commands. Routes only; the token guard, body limit and error shape
 * are broker/http.ts's.
 */
import { definePlugin } from '../../broker/plugin-types.js'
import '../liveness/service.js'
import './decommission-service.js'
import { countHttpRefusal } from '../../broker/http-guard.js'
import { registerDeviceRoutes } from './devices-routes.js'
import { registerEventsRoute, type EventStreams } from './events-route.js'
import { registerInsightRoutes } from './insights-routes.js'

export const EVENTS_HEARTBEAT_MS = 15_000

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
      let streams: EventStreams | null = null
      return {
        routes (app) {
          registerDeviceRoutes(app, { liveness, decommission: () => ctx.maybe('decommission'), insights: () => ctx.maybe('insights'), log: ctx.log })
          registerInsightRoutes(app, { liveness, insights: () => ctx.maybe('insights') })
          streams = registerEventsRoute(app, liveness, options.eventsHeartbeatMs ?? EVENTS_HEARTBEAT_MS,
            ctx.vigil.http?.maxEventStreams, () => countHttpRefusal(ctx.metrics, 'events_full'))
        },
        close () {
          streams?.closeAll()
        }
      }
    }
  })
}

export default apiPlugin()
