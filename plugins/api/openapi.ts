/**
 * The OpenAPI 3.1 description of Vigil's HTTP API, served at
 * GET /api/openapi.json. Kept next to the routes and checked against them by
 * test/integration/api-http.test.ts (every documented route answers).
 */
const errorResponse = (description: string) => ({
  description,
  content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } }
})

const clientIdParam = {
  name: 'clientId',
  in: 'path',
  required: true,
  description: 'The MQTT client id (URL-encoded)',
  schema: { type: 'string', minLength: 1 }
}

export function openApiDocument (version: string): Record<string, unknown> {
  return {
    openapi: '3.1.0',
    info: {
      title: 'Vigil HTTP API',
      version,
      description: 'Liveness of MQTT devices (online, silent, offline), commands that wait for the device\'s ack, ' +
        'live transitions as Server-Sent Events, health and Prometheus metrics. Every client error is a 4xx ' +
        'JSON `{"error","message"}`. When `http.token` is set, every `/api/*` route needs ' +
        '`Authorization: Bearer <token>`; `/healthz`, `/readyz` and `/metrics` stay open.'
    },
    servers: [{ url: 'http://127.0.0.1:8080' }],
    security: [{ bearer: [] }],
    paths: {
      '/healthz': {
        get: {
          summary: 'The process runs',
          security: [],
          responses: { 200: { description: 'Alive', content: { 'application/json': { schema: { type: 'object', properties: { status: { const: 'ok' } } } } } } }
        }
      },
      '/readyz': {
        get: {
          summary: 'Listeners are up and Redis (if configured) answers',
          security: [],
          responses: {
            200: { description: 'Ready', content: { 'application/json': { schema: { type: 'object', properties: { status: { const: 'ready' } } } } } },
            503: { description: 'Not ready', content: { 'application/json': { schema: { type: 'object', properties: { status: { const: 'unready' }, reason: { type: 'string' } } } } } }
          }
        }
      },
      '/metrics': {
        get: {
          summary: 'Prometheus metrics (text exposition format)',
          security: [],
          responses: { 200: { description: 'Metrics', content: { 'text/plain': { schema: { type: 'string' } } } } }
        }
      },
      '/api/openapi.json': {
        get: {
          summary: 'This document',
          responses: { 200: { description: 'OpenAPI 3.1 document', content: { 'application/json': { schema: { type: 'object' } } } } }
        }
      },
      '/api/devices': {
        get: {
          summary: 'Every known device with its liveness status, on any node of the cluster',
          description: 'Observers (clients that connected without a will and never published on a heartbeat topic: ' +
            'dashboards, loggers, mosquitto_sub) are not devices and are left out unless `kind` asks for them.',
          parameters: [
            { name: 'state', in: 'query', required: false, schema: { $ref: '#/components/schemas/State' } },
            { name: 'kind', in: 'query', required: false, schema: { type: 'string', enum: ['device', 'observer', 'all'], default: 'device' } }
          ],
          responses: {
            200: {
              description: 'Devices, sorted by clientId',
              content: { 'application/json': { schema: { type: 'object', required: ['devices'], properties: { devices: { type: 'array', items: { $ref: '#/components/schemas/Status' } } } } } }
            },
            400: errorResponse('Unknown state or kind, or unknown query parameter'),
            401: errorResponse('Missing or wrong bearer token')
          }
        }
      },
      '/api/devices/{clientId}': {
        parameters: [clientIdParam],
        get: {
          summary: 'One device\'s liveness status, with its availability',
          responses: {
            200: {
              description: 'Status; for a device also `availability` (and `flapping` as of now)',
              content: {
                'application/json': {
                  schema: {
                    allOf: [{ $ref: '#/components/schemas/Status' }, {
                      type: 'object',
                      properties: { availability: { $ref: '#/components/schemas/Availability' } }
                    }]
                  }
                }
              }
            },
            401: errorResponse('Missing or wrong bearer token'),
            404: errorResponse('Unknown device')
          }
        },
        delete: {
          summary: 'Decommission: disconnect (reason kicked), clear its status and every retained message under devices/{clientId}/#, forget it',
          responses: {
            204: { description: 'Decommissioned' },
            401: errorResponse('Missing or wrong bearer token'),
            404: errorResponse('Unknown device and nothing to clear'),
            501: errorResponse('The retained plugin (which decommissions) is not enabled'),
            503: errorResponse('Persistence failed; retry')
          }
        }
      },
      '/api/devices/{clientId}/commands': {
        parameters: [clientIdParam],
        post: {
          summary: 'Send a command and wait for the device\'s ack',
          description: 'Publishes `{"id","command","args","ts"}` at QoS 1 on `commands.topic` and waits for ' +
            '`{"id","status":"ok"|"error","result"}` from the device on `commands.ackTopic`. After `timeout` without ' +
            'an ack the same id is sent again, `retries` times. A silent device is sent the command; the reply says ' +
            '`"silent": true`.',
          requestBody: {
            required: true,
            content: { 'application/json': { schema: { $ref: '#/components/schemas/CommandRequest' } } }
          },
          responses: {
            200: { description: 'The device acked (status acked) or reported an error (status failed)', content: { 'application/json': { schema: { $ref: '#/components/schemas/CommandResult' } } } },
            400: errorResponse('Bad JSON, unknown field, bad duration or retries, client id that cannot address a topic'),
            401: errorResponse('Missing or wrong bearer token'),
            409: errorResponse('The device is offline or unknown (error device_offline)'),
            413: errorResponse('Body over 64 KiB'),
            415: errorResponse('Body is not application/json'),
            503: errorResponse('The broker is shutting down'),
            504: { description: 'No ack after every attempt', content: { 'application/json': { schema: { $ref: '#/components/schemas/CommandTimeout' } } } }
          }
        }
      },
      '/api/devices/{clientId}/commands/{id}': {
        parameters: [clientIdParam, { name: 'id', in: 'path', required: true, schema: { type: 'string', format: 'uuid' } }],
        get: {
          summary: 'The record of a command (kept 24 h; in Redis in Redis mode, so any node answers)',
          responses: {
            200: {
              description: 'The same object the POST answered, or status pending while it waits',
              content: { 'application/json': { schema: { oneOf: [{ $ref: '#/components/schemas/CommandResult' }, { $ref: '#/components/schemas/CommandTimeout' }, { $ref: '#/components/schemas/CommandPending' }] } } }
            },
            400: errorResponse('Malformed id'),
            401: errorResponse('Missing or wrong bearer token'),
            404: errorResponse('No such command for this device')
          }
        }
      },
      '/api/devices/{clientId}/history': {
        parameters: [clientIdParam],
        get: {
          summary: 'The device\'s transitions: the last 7 days or 1,000, whichever is fewer (in Redis in Redis mode)',
          parameters: [{ name: 'since', in: 'query', required: false, description: 'Only transitions at or after this time (ms since the Unix epoch)', schema: { type: 'integer', minimum: 0 } }],
          responses: {
            200: {
              description: 'Transitions, oldest first',
              content: {
                'application/json': {
                  schema: { type: 'object', required: ['transitions'], properties: { transitions: { type: 'array', items: { $ref: '#/components/schemas/Transition' } } } }
                }
              }
            },
            400: errorResponse('Bad since, or unknown query parameter'),
            401: errorResponse('Missing or wrong bearer token'),
            404: errorResponse('Unknown device with no history'),
            501: errorResponse('Device insights are disabled')
          }
        }
      },
      '/api/fleet': {
        get: {
          summary: 'Fleet summary: devices by state and by firmware version, flapping and skewed counts',
          responses: {
            200: { description: 'Summary', content: { 'application/json': { schema: { $ref: '#/components/schemas/Fleet' } } } },
            401: errorResponse('Missing or wrong bearer token'),
            501: errorResponse('Device insights are disabled')
          }
        }
      },
      '/api/events': {
        get: {
          summary: 'Server-Sent Events: one `liveness` event per status transition',
          description: 'Each event is `event: liveness` with the status object as `data`. A comment line ' +
            '(`: heartbeat`) every 15 s keeps proxies from closing the stream.',
          responses: {
            200: { description: 'An endless event stream', content: { 'text/event-stream': { schema: { type: 'string' } } } },
            401: errorResponse('Missing or wrong bearer token')
          }
        }
      }
    },
    components: {
      securitySchemes: { bearer: { type: 'http', scheme: 'bearer', description: 'http.token from the config' } },
      schemas: {
        Error: {
          type: 'object',
          required: ['error', 'message'],
          properties: { error: { type: 'string', description: 'A stable code, e.g. bad_json, unknown_field, device_offline' }, message: { type: 'string' } }
        },
        State: { type: 'string', enum: ['online', 'silent', 'offline'] },
        Status: {
          type: 'object',
          required: ['clientId', 'state', 'since', 'connectedAt', 'lastHeartbeat', 'lastPacket', 'reason', 'epoch', 'node'],
          properties: {
            clientId: { type: 'string' },
            state: { $ref: '#/components/schemas/State' },
            since: { type: 'integer', description: 'ms since the Unix epoch, when this state began' },
            connectedAt: { type: 'integer' },
            lastHeartbeat: { type: ['integer', 'null'] },
            lastPacket: { type: ['integer', 'null'] },
            reason: {
              type: ['string', 'null'],
              enum: ['graceful', 'keepalive_timeout', 'connection_lost', 'protocol_error', 'takeover', 'server_shutdown', 'kicked', 'silent_timeout', 'node_lost', null]
            },
            epoch: { type: 'integer', description: '+1 on every accepted CONNECT of this clientId, cluster-wide' },
            node: { type: 'string' },
            kind: { type: 'string', enum: ['device', 'observer'] },
            fw: { type: 'string', description: 'Firmware version from the birth message' },
            restarts: { type: 'integer', description: 'Reboots seen' },
            lastRestart: { type: ['integer', 'null'] },
            clockSkewMs: { type: ['integer', 'null'], description: 'Median of device ts minus broker receive time over the last heartbeats' },
            flapping: { type: 'boolean', description: 'More than 5 connects within 5 minutes' },
            address: { type: 'string', description: 'Remote address of the connection' }
          }
        },
        Availability: {
          type: 'object',
          description: 'Share of time online since first seen (silent and offline are down); null without history',
          properties: { '1h': { type: ['number', 'null'] }, '24h': { type: ['number', 'null'] }, '7d': { type: ['number', 'null'] } }
        },
        Transition: {
          type: 'object',
          required: ['state', 'reason', 'at', 'epoch', 'node'],
          properties: {
            state: { $ref: '#/components/schemas/State' },
            reason: { type: ['string', 'null'] },
            at: { type: 'integer', description: 'When the state began (ms)' },
            epoch: { type: 'integer' },
            node: { type: 'string' }
          }
        },
        Fleet: {
          type: 'object',
          required: ['devices', 'states', 'observers', 'firmware', 'flapping', 'skewed'],
          properties: {
            devices: { type: 'integer' },
            states: { type: 'object', properties: { online: { type: 'integer' }, silent: { type: 'integer' }, offline: { type: 'integer' } } },
            observers: { type: 'integer' },
            firmware: { type: 'object', additionalProperties: { type: 'integer' }, description: 'Devices per fw version; "unknown" without one' },
            flapping: { type: 'integer' },
            skewed: { type: 'integer', description: 'Devices with |clockSkewMs| > 60000' }
          }
        },
        CommandRequest: {
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
        },
        CommandResult: {
          type: 'object',
          required: ['id', 'status', 'result', 'attempts', 'latencyMs'],
          properties: {
            id: { type: 'string', format: 'uuid' },
            status: { type: 'string', enum: ['acked', 'failed'] },
            result: { description: 'The device\'s result, as sent' },
            attempts: { type: 'integer', minimum: 1 },
            latencyMs: { type: 'integer', description: 'From the first send to the ack' },
            silent: { const: true, description: 'Present when the device was silent when the command was sent' }
          }
        },
        CommandTimeout: {
          type: 'object',
          required: ['id', 'status', 'attempts'],
          properties: { id: { type: 'string', format: 'uuid' }, status: { const: 'timeout' }, attempts: { type: 'integer' }, silent: { const: true } }
        },
        CommandPending: {
          type: 'object',
          required: ['id', 'status', 'attempts'],
          properties: { id: { type: 'string', format: 'uuid' }, status: { const: 'pending' }, attempts: { type: 'integer' } }
        }
      }
    }
  }
}
