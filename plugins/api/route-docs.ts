/**
 * How the API's routes describe themselves in the OpenAPI document (see
 * broker/openapi.ts): next to the routes, with the states and reasons taken
 * from the liveness service's own constants.
 */
import { errorResponse, json, type JsonSchema, type RouteDoc } from '../../broker/openapi.js'
import { CLIENT_KINDS, LIVENESS_STATES, OFFLINE_REASONS } from '../liveness/service.js'
import { MAX_PAGE } from './paging.js'

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
    node: { type: 'string' },
    kind: { type: 'string', enum: [...CLIENT_KINDS], description: 'observer: no will and nothing published on a heartbeat topic (docs/insights.md)' },
    fw: { type: 'string', description: 'Firmware version from the birth message' },
    restarts: { type: 'integer', description: 'Reboots seen' },
    lastRestart: { type: ['integer', 'null'] },
    clockSkewMs: { type: ['integer', 'null'], description: 'Median of device ts minus broker receive time over the last heartbeats' },
    flapping: { type: 'boolean', description: 'More than 5 connects within 5 minutes' },
    address: { type: 'string', description: 'Remote address of the connection' }
  }
}

/** Share of time online since first seen (silent and offline are down); null without history. */
export const AVAILABILITY_SCHEMA: JsonSchema = {
  type: 'object',
  properties: { '1h': { type: ['number', 'null'] }, '24h': { type: ['number', 'null'] }, '7d': { type: ['number', 'null'] } }
}

export const CLIENT_ID_PARAM: JsonSchema = { type: 'string', minLength: 1, description: 'The MQTT client id (URL-encoded)' }

const unauthorized = errorResponse('Missing or wrong bearer token')

export const LIST_DEVICES: RouteDoc = {
  operationId: 'listDevices',
  summary: 'Every known device with its liveness status, on any node of the cluster',
  tags: ['devices'],
  description: 'Observers (clients with no will that never published on a heartbeat topic: dashboards, loggers, ' +
    'mosquitto_sub) are not devices: left out unless `kind` asks for them.',
  query: {
    state: STATE_SCHEMA,
    kind: { type: 'string', enum: [...CLIENT_KINDS, 'all'], default: 'device' },
    limit: { type: 'integer', minimum: 1, maximum: MAX_PAGE, description: 'Page size: at most this many devices, and `next` in the answer. Without `limit` or `after`, every device and no `next`.' },
    after: { type: 'string', minLength: 1, description: 'Cursor: only devices whose clientId sorts after this one (the `next` of the previous page)' }
  },
  responses: {
    200: json('Devices, sorted by clientId', {
      type: 'object',
      required: ['devices'],
      properties: {
        devices: { type: 'array', items: STATUS_SCHEMA },
        next: { type: ['string', 'null'], description: 'Only when paged (`limit` or `after`): the `after` of the next page, null on the last page' }
      }
    }),
    400: errorResponse('Unknown state or kind, bad limit or after, or unknown query parameter'),
    401: unauthorized
  }
}

export const GET_DEVICE: RouteDoc = {
  operationId: 'getDevice',
  summary: 'One device\'s liveness status, with its availability',
  tags: ['devices'],
  params: { clientId: CLIENT_ID_PARAM },
  responses: {
    200: json('Status; for a device also `availability` (and `flapping` as of now)',
      { allOf: [STATUS_SCHEMA, { type: 'object', properties: { availability: AVAILABILITY_SCHEMA } }] }),
    400: errorResponse('Unknown query parameter'),
    401: unauthorized,
    404: errorResponse('Unknown device'),
    503: errorResponse('Redis mode: the history could not be read; retry')
  }
}

export const DEVICE_HISTORY: RouteDoc = {
  operationId: 'getDeviceHistory',
  summary: 'The device\'s transitions: the last 7 days or 1,000, whichever is fewer (in Redis in Redis mode)',
  tags: ['insights'],
  params: { clientId: CLIENT_ID_PARAM },
  query: { since: { type: 'integer', minimum: 0, description: 'Only transitions at or after this time (ms since the Unix epoch)' } },
  responses: {
    200: json('Transitions, oldest first', {
      type: 'object',
      required: ['transitions'],
      properties: {
        transitions: {
          type: 'array',
          items: {
            type: 'object',
            required: ['state', 'reason', 'at', 'epoch', 'node'],
            properties: {
              state: STATE_SCHEMA,
              reason: { type: ['string', 'null'], enum: [...OFFLINE_REASONS, null] },
              at: { type: 'integer', description: 'When the state began (ms)' },
              epoch: { type: 'integer' },
              node: { type: 'string' }
            }
          }
        }
      }
    }),
    400: errorResponse('Bad since, or unknown query parameter'),
    401: unauthorized,
    404: errorResponse('Unknown device with no history'),
    501: errorResponse('Device insights are disabled (insights.enabled: false)'),
    503: errorResponse('Redis mode: the history could not be read; retry')
  }
}

export const FLEET_SUMMARY: RouteDoc = {
  operationId: 'getFleet',
  summary: 'Fleet summary: devices by state and by firmware version, observers, flapping and skewed counts',
  tags: ['insights'],
  responses: {
    200: json('Summary', {
      type: 'object',
      required: ['devices', 'states', 'observers', 'firmware', 'flapping', 'skewed'],
      properties: {
        devices: { type: 'integer' },
        states: { type: 'object', properties: Object.fromEntries(LIVENESS_STATES.map((state) => [state, { type: 'integer' }])) },
        observers: { type: 'integer' },
        firmware: { type: 'object', additionalProperties: { type: 'integer' }, description: 'Devices per fw version; "unknown" without one' },
        flapping: { type: 'integer', description: 'Devices with more than 5 connects within the last 5 minutes' },
        skewed: { type: 'integer', description: 'Devices with |clockSkewMs| > 60000' }
      }
    }),
    400: errorResponse('Unknown query parameter'),
    401: unauthorized,
    501: errorResponse('Device insights are disabled (insights.enabled: false)')
  }
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
