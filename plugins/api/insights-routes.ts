/**
 * Device insights over HTTP (issue 18): one device's transition history and
 * the fleet summary. The insights plugin answers; without it these routes say
 * so (501) rather than pretend an empty fleet.
 */
import type { FastifyInstance } from 'fastify'
import { errorMessage } from '../../broker/errors.js'
import { documented } from '../../broker/openapi.js'
import type { InsightsService } from '../insights/service.js'
import type { LivenessService } from '../liveness/service.js'
import { ApiError } from './http-errors.js'
import { DEVICE_HISTORY, FLEET_SUMMARY } from './route-docs.js'
import { clientIdParam, isPlainObject, parseSinceQuery, rejectUnknown } from './validation.js'

export interface InsightRoutesDeps {
  liveness: LivenessService
  /** Looked up per request: the plugin may be disabled (insights.enabled: false). */
  insights(): InsightsService | undefined
}

/** In Redis mode a history read can fail while Redis is away: a 503 to retry, not a 500. */
export async function readOr503<T> (read: () => Promise<T>): Promise<T> {
  try {
    return await read()
  } catch (err) {
    if (err instanceof ApiError) throw err
    throw new ApiError(503, 'unavailable', `the device history could not be read: ${errorMessage(err)}; retry`)
  }
}

export function registerInsightRoutes (app: FastifyInstance, deps: InsightRoutesDeps): void {
  const need = (): InsightsService => {
    const insights = deps.insights()
    if (insights === undefined) throw new ApiError(501, 'not_implemented', 'device insights are disabled (insights.enabled: false)')
    return insights
  }

  app.get('/api/devices/:clientId/history', documented(DEVICE_HISTORY), async (request) => {
    const since = parseSinceQuery(request.query)
    const clientId = clientIdParam(request.params)
    const transitions = await readOr503(() => need().history(clientId, since))
    if (transitions.length === 0 && deps.liveness.get(clientId) === undefined) {
      throw new ApiError(404, 'unknown_device', `no device ${JSON.stringify(clientId)} is known`)
    }
    return { transitions }
  })

  app.get('/api/fleet', documented(FLEET_SUMMARY), async (request) => {
    rejectUnknown(isPlainObject(request.query) ? request.query : {}, [], 'query parameter')
    return need().fleet()
  })
}
