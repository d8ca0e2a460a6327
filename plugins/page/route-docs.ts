/** How the page plugin's routes describe themselves in the OpenAPI document (see broker/openapi.ts). */
import { errorResponse, json, type JsonSchema, type RouteDoc } from '../../broker/openapi.js'
import { CLIENT_ID_PARAM } from '../api/route-docs.js'

const MESSAGE_PROPERTIES: Record<string, JsonSchema> = {
  topic: { type: 'string' },
  payload: { type: 'string', description: 'UTF-8 text, or base64 when the payload is not valid UTF-8' },
  encoding: { type: 'string', enum: ['utf8', 'base64'] },
  truncated: { type: 'boolean', description: 'Only the first 4 KiB are kept' },
  qos: { type: 'integer', enum: [0, 1, 2] },
  retain: { type: 'boolean' }
}
const MESSAGE: JsonSchema = { type: 'object', required: Object.keys(MESSAGE_PROPERTIES), properties: MESSAGE_PROPERTIES }

const LAST_WILL: JsonSchema = {
  type: 'object',
  required: ['clientId', 'topic', 'registered', 'retained'],
  properties: {
    clientId: { type: 'string' },
    topic: { type: 'string', description: 'The registered will\'s topic, else devices/{clientId}/status' },
    registered: {
      oneOf: [{ type: 'null' }, { ...MESSAGE, required: [...Object.keys(MESSAGE_PROPERTIES), 'connectedAt'], properties: { ...MESSAGE_PROPERTIES, connectedAt: { type: 'integer' } } }],
      description: 'The will set at the device\'s last CONNECT, as this node saw it'
    },
    retained: { oneOf: [{ type: 'null' }, MESSAGE], description: 'The retained message on the will topic now (after a death: the will as published, stamped)' }
  }
}

const HTML = (description: string) => ({ description, content: { 'text/html': { schema: { type: 'string' } } } })

export const FLEET_PAGE: RouteDoc = {
  operationId: 'fleetPage',
  summary: 'The fleet page',
  description: 'Counts by state, the live device table, the device view. Loads without the token and asks for it.',
  tags: ['page'],
  open: true,
  responses: { 200: HTML('The page') }
}

export const PAGE_FILE: RouteDoc = {
  operationId: 'fleetPageFile',
  summary: 'A file of the fleet page (script or style)',
  tags: ['page'],
  open: true,
  params: { file: { type: 'string', examples: ['app.js', 'style.css'] } },
  responses: {
    200: { description: 'The file', content: { 'text/javascript': { schema: { type: 'string' } }, 'text/css': { schema: { type: 'string' } } } },
    404: errorResponse('No such file')
  }
}

export const LAST_WILL_DOC: RouteDoc = {
  operationId: 'getLastWill',
  summary: 'A device\'s will, and what its will topic retains now',
  tags: ['devices'],
  params: { clientId: CLIENT_ID_PARAM },
  responses: {
    200: json('The will', LAST_WILL),
    400: errorResponse('Bad client id or unknown query parameter'),
    401: errorResponse('Missing or wrong bearer token'),
    404: errorResponse('No such device (unknown_device)'),
    503: errorResponse('The retained store did not answer; retry')
  }
}
