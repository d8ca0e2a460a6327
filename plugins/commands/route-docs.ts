/** How the commands routes describe themselves in the OpenAPI document (see broker/openapi.ts). */
import { errorResponse, json, type JsonSchema, type RouteDoc } from '../../broker/openapi.js'
import { CLIENT_ID_PARAM } from '../api/route-docs.js'

const COMMAND_ID = { type: 'string', format: 'uuid' }

const COMMAND_REQUEST: JsonSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['command'],
  properties: {
    command: { type: 'string', minLength: 1, maxLength: 256 },
    args: { type: 'object', description: 'Passed to the device as is (default {})' },
    timeout: {
      oneOf: [{ type: 'number', exclusiveMinimum: 0, description: 'seconds' }, { type: 'string', examples: ['250ms', '10s', '2m'] }],
      description: 'Per attempt, at most 5m (default commands.timeout)'
    },
    retries: { type: 'integer', minimum: 0, maximum: 10, description: 'Re-sends with the same id (default commands.retries)' }
  }
}

const COMMAND_RESULT: JsonSchema = {
  type: 'object',
  required: ['id', 'status', 'result', 'attempts', 'latencyMs'],
  properties: {
    id: COMMAND_ID,
    status: { type: 'string', enum: ['acked', 'failed'] },
    result: { description: 'The device\'s result, as sent' },
    attempts: { type: 'integer', minimum: 1 },
    latencyMs: { type: 'integer', description: 'From the first send to the ack' },
    silent: { const: true, description: 'Present when the device was silent when the command was sent' }
  }
}

const COMMAND_TIMEOUT: JsonSchema = {
  type: 'object',
  required: ['id', 'status', 'attempts'],
  properties: { id: COMMAND_ID, status: { const: 'timeout' }, attempts: { type: 'integer' }, silent: { const: true } }
}

const COMMAND_PENDING: JsonSchema = {
  type: 'object',
  required: ['id', 'status', 'attempts'],
  properties: { id: COMMAND_ID, status: { const: 'pending' }, attempts: { type: 'integer' } }
}

const unauthorized = errorResponse('Missing or wrong bearer token')

export const SEND_COMMAND: RouteDoc = {
  operationId: 'sendCommand',
  summary: 'Send a command and wait for the device\'s ack',
  description: 'Publishes `{"id","command","args","ts"}` at QoS 1 on `commands.topic` and waits for ' +
    '`{"id","status":"ok"|"error","result"}` from the device on `commands.ackTopic`. After `timeout` without ' +
    'an ack the same id is sent again, `retries` times. A silent device is sent the command; the reply says ' +
    '`"silent": true`.',
  tags: ['commands'],
  params: { clientId: CLIENT_ID_PARAM },
  body: { content: { 'application/json': { schema: COMMAND_REQUEST } } },
  responses: {
    200: json('The device acked (status acked) or reported an error (status failed)', COMMAND_RESULT),
    400: errorResponse('Bad JSON, unknown field, bad duration or retries, client id that cannot address a topic'),
    401: unauthorized,
    403: errorResponse('The http.readToken opens GET routes only'),
    409: errorResponse('The device is offline or unknown (error device_offline)'),
    413: errorResponse('Body over 64 KiB'),
    415: errorResponse('Body is not application/json'),
    429: errorResponse('Too many commands waiting for an ack (http.maxCommandsPerDevice / http.maxCommandsInFlight, error too_many_commands), or too many requests from this address (Retry-After)'),
    503: errorResponse('The broker is shutting down'),
    504: json('No ack after every attempt', COMMAND_TIMEOUT)
  }
}

export const GET_COMMAND: RouteDoc = {
  operationId: 'getCommand',
  summary: 'The record of a command (kept 24 h; in Redis in Redis mode, so any node answers)',
  tags: ['commands'],
  params: { clientId: CLIENT_ID_PARAM, id: COMMAND_ID },
  responses: {
    200: json('The same object the POST answered, or status pending while it waits',
      { oneOf: [COMMAND_RESULT, COMMAND_TIMEOUT, COMMAND_PENDING] }),
    400: errorResponse('Malformed id'),
    401: unauthorized,
    404: errorResponse('No such command for this device'),
    503: errorResponse('The command store does not answer; retry')
  }
}
