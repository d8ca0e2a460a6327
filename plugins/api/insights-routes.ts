/**
 * Device insights over HTTP (issue 18): one device's transition history and
 * the fleet summary. The insights plugin answers; without it these routes say
 * so (501) rather than pretend an empty fleet.
 */
import type { FastifyInstance } from 'fastify'
import type { InsightsService } from '../insights/service.js'
import type { LivenessService } from '../liveness/service.js'
import { ApiError } from './http-errors.js'
import { clientIdParam, isPlainObject, parseSinceQuery, rejectUnknown } from './validation.js'

export interface InsightRoutesDeps {
  liveness: LivenessService
  /** Looked up per request: the plugin may be disabled (insights.enabled: false). */
  insights(): InsightsService | undefined
}

export function registerInsightRoutes (app: FastifyInstance, deps: InsightRoutesDeps): void {
  const need = (): InsightsService => {
    const insights = deps.insights()
    if (insights === undefined) throw new ApiError(501, 'not_implemented', 'device insights are disabled (insights.enabled: false)')
    return insights
  }

  app.get('/api/devices/:clientId/history', async (request) => {
    const since = parseSinceQuery(request.query)
    const clientId = clientIdParam(request.params)
    const transitions = await need().history(clientId, since)
    if (transitions.length === 0 && deps.liveness.get(clientId) === undefined) {
      throw new ApiError(404, 'unknown_device', `no device ${JSON.stringify(clientId)} is known`)
    }
    return { transitions }
  })

  app.get('/api/fleet', async (request) => {
    rejectUnknown(isPlainObject(request.query) ? request.query : {}, [], 'query parameter')
    return need().fleet()
  })
}
