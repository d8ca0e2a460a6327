/**
 * How the API's routes describe themselves in the OpenAPI document (see
 * broker/openapi.ts): next to the routes, with the states and reasons taken
 * from the liveness service's own constants.
 */
import { errorResponse, json, type JsonSchema, type RouteDoc } from '../../broker/openapi.js'
import { LIVENESS_STATES, OFFLINE_REASONS } from '../liveness/service.js'

export const STATE_SCHEMA: JsonSchema = { type: 'string', enum: [...LIVENESS_STATES] }

/** The status object (topic, API, SSE). Other plugins may add fields (additionalProperties). */
export const STATUS_SCHEMA: JsonSchema = {
  type: 'object',
  required: ['clientId', 'state', 'since', 'connectedAt', 'lastHeartbeat', 'lastPacket', 'reason', 'epoch', 'node'],
  properties: {
    clientId: { type: 'string' },
    state: STATE_SCHEMA,
    since: { type: 'integer', description: 'ms since the Unix epoch, when this state began' },
    connectedAt: { type: 'integer' },
    lastHeartbeat: { type: ['integer', 'null'] },
    lastPacket: { type: ['integer', 'null'] },
    reason: { type: ['string', 'null'], enum: [...OFFLINE_REASONS, null] },
    epoch: { type: 'integer', description: '+1 on every accepted CONNECT of this clientId, cluster-wide' },
    node: { type: 'string' }
  }
}

export const CLIENT_ID_PARAM: JsonSchema = { type: 'string', minLength: 1, description: 'The MQTT client id (URL-encoded)' }

const unauthorized = errorResponse('Missing or wrong bearer token')

export const LIST_DEVICES: RouteDoc = {
  operationId: 'listDevices',
  summary: 'Every known device with its liveness status, on any node of the cluster',
  tags: ['devices'],
  query: { state: STATE_SCHEMA },
  responses: {
    200: json('Devices, sorted by clientId', { type: 'object', required: ['devices'], properties: { devices: { type: 'array', items: STATUS_SCHEMA } } }),
    400: errorResponse('Unknown state or unknown query parameter'),
    401: unauthorized
  }
}

export const GET_DEVICE: RouteDoc = {
  operationId: 'getDevice',
  summary: 'One device\'s liveness status',
  tags: ['devices'],
  params: { clientId: CLIENT_ID_PARAM },
  responses: { 200: json('Status', STATUS_SCHEMA), 400: errorResponse('Unknown query parameter'), 401: unauthorized, 404: errorResponse('Unknown device') }
}

export const DECOMMISSION_DEVICE: RouteDoc = {
  operationId: 'decommissionDevice',
  summary: 'Decommission: disconnect (reason kicked), clear its status and every retained message under devices/{clientId}/#, forget it',
  tags: ['devices'],
  params: { clientId: CLIENT_ID_PARAM },
  responses: {
    204: { description: 'Decommissioned' },
    400: errorResponse('Unknown query parameter'),
    401: unauthorized,
    403: errorResponse('The http.readToken opens GET routes only'),
    404: errorResponse('Unknown device and nothing to clear'),
    501: errorResponse('The retained plugin (which decommissions) is not enabled'),
    503: errorResponse('Persistence failed; retry')
  }
}

export const STREAM_EVENTS: RouteDoc = {
  operationId: 'streamEvents',
  summary: 'Server-Sent Events: one `liveness` event per status transition',
  description: 'Each event is `event: liveness` with the status object as `data`. A comment line ' +
    '(`: heartbeat`) every 15 s keeps proxies from closing the stream.',
  tags: ['devices'],
  responses: {
    200: { description: 'An endless event stream', content: { 'text/event-stream': { schema: { type: 'string' } } } },
    400: errorResponse('Unknown query parameter'),
    401: unauthorized,
    503: errorResponse('http.maxEventStreams streams are open (error too_many_streams, Retry-After)')
  }
}
