/**
 * The fleet over HTTP (docs/http-api.md): list, one device, decommission.
 * Reads the liveness service's fleet view, which covers every node sharing one
 * Redis, so any node answers for the whole cluster.
 */
import type { FastifyInstance } from 'fastify'
import { errorMessage } from '../../broker/errors.js'
import type { Logger } from '../../broker/logger.js'
import { documented } from '../../broker/openapi.js'
import type { Services } from '../../broker/services.js'
import type { LivenessService } from '../liveness/service.js'
import type { InsightsService } from '../insights/service.js'
import './decommission-service.js'
import { ApiError } from './http-errors.js'
import { pageOf, parsePageQuery, sortedById } from './paging.js'
import { readOr503 } from './insights-routes.js'
import { DECOMMISSION_DEVICE, GET_DEVICE, LIST_DEVICES } from './route-docs.js'
import { clientIdParam, isPlainObject, parseKindQuery, parseStateQuery, rejectUnknown } from './validation.js'

export interface DevicesDeps {
  liveness: LivenessService
  /** Looked up per request: the decommission service may come from a later plugin, or none. */
  decommission(): Services['decommission'] | undefined
  /** The insights service (availability), if its plugin is enabled. */
  insights(): InsightsService | undefined
  log: Logger
}

export function registerDeviceRoutes (app: FastifyInstance, deps: DevicesDeps): void {
  const { liveness } = deps

  app.get('/api/devices', documented(LIST_DEVICES), async (request) => {
    const state = parseStateQuery(request.query)
    // Observers (dashboards, loggers, mosquitto_sub) are not devices: listed with ?kind=observer or ?kind=all.
    const devices = liveness.list(state, parseKindQuery(request.query))
    // Paged only when asked: the default answer stays {"devices":[...]} (docs/http-api.md).
    const page = parsePageQuery(request.query)
    if (page === null) return { devices: sortedById(devices) }
    const { items, next } = pageOf(devices, page)
    return { devices: items, next }
  })

  app.get('/api/devices/:clientId', documented(GET_DEVICE), async (request) => {
    rejectUnknown(isPlainObject(request.query) ? request.query : {}, [], 'query parameter')
    const clientId = clientIdParam(request.params)
    const status = liveness.get(clientId)
    if (status === undefined) throw new ApiError(404, 'unknown_device', `no device ${JSON.stringify(clientId)} is known`)
    const insights = deps.insights()
    if (insights === undefined || status.kind !== 'device') return status
    // flapping as of now (the status says what it was when published); availability from the history.
    const availability = await readOr503(() => insights.availability(clientId))
    return { ...status, flapping: insights.flapping(clientId) ?? status.flapping, availability }
  })

  app.delete('/api/devices/:clientId', documented(DECOMMISSION_DEVICE), async (request, reply) => {
    rejectUnknown(isPlainObject(request.query) ? request.query : {}, [], 'query parameter')
    const clientId = clientIdParam(request.params)
    const service = deps.decommission()
    if (service === undefined) {
      throw new ApiError(501, 'not_implemented', 'decommissioning needs the retained plugin, which is not enabled')
    }
    const known = liveness.get(clientId) !== undefined
    let result: { kicked: boolean, cleared: number }
    try {
      result = await service.decommission(clientId)
    } catch (err) {
      deps.log.error({ clientId, err: errorMessage(err) }, 'decommission failed')
      throw new ApiError(503, 'unavailable', `decommissioning ${clientId} failed: ${errorMessage(err)}; retry`)
    }
    if (!known && !result.kicked && result.cleared === 0) {
      throw new ApiError(404, 'unknown_device', `no device ${JSON.stringify(clientId)} is known`)
    }
    deps.log.info({ clientId, kicked: result.kicked, cleared: result.cleared }, 'device decommissioned')
    return reply.code(204).send()
  })
}
