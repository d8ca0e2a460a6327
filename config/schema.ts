/**
 * The one source of Vigil's configuration: its type, its defaults and its
 * validation messages. `config/default.yaml` documents the same defaults and a
 * test keeps the two equal.
 */
import { z } from 'zod'
import { DURATION_HELP, parseDuration } from './duration.js'
import { parseRedisUrl, REDIS_URL_HELP } from '../broker/redis-url.js'

/** A duration in config (number of seconds or "90s"); parsed to milliseconds. */
const duration = () =>
  z.union([z.number(), z.string()], { error: DURATION_HELP }).transform((value, ctx) => {
    const ms = parseDuration(value)
    if (ms === null) {
      ctx.addIssue({ code: 'custom', message: DURATION_HELP })
      return z.NEVER
    }
    return ms
  })

const port = () =>
  z.number({ error: 'an integer port from 0 to 65535' })
    .int({ error: 'an integer port from 0 to 65535' })
    .min(0, { error: 'an integer port from 0 to 65535' })
    .max(65535, { error: 'an integer port from 0 to 65535' })

const positiveInt = (what: string) =>
  z.number({ error: `a positive integer (${what})` }).int({ error: `a positive integer (${what})` })
    .min(1, { error: `a positive integer (${what})` })

const validRedisUrl = (url: string): boolean => {
  try { parseRedisUrl(url); return true } catch { return false }
}

const nonEmpty = (what: string) => z.string({ error: what }).min(1, { error: what })

/** [MQTT-4.7.1-2] '#' only as the last level, [MQTT-4.7.1-3] '+' only as a whole level. */
export function isValidTopicFilter (filter: string): boolean {
  if (filter.length === 0) return false
  const levels = filter.split('/')
  return levels.every((level, i) =>
    (level === '#' ? i === levels.length - 1 : !level.includes('#')) &&
    (level === '+' || !level.includes('+')))
}

const topicFilter = () =>
  z.string({ error: 'an MQTT topic filter' }).refine(isValidTopicFilter, {
    error: 'an MQTT topic filter (+ and # only as whole levels, # last)'
  })

/** Topic templates: a concrete topic where {clientId} and {username} are filled in. */
const topicTemplate = () =>
  z.string({ error: 'a topic template containing {clientId}' }).refine(
    (t) => t.includes('{clientId}') && !t.includes('+') && !t.includes('#'),
    { error: 'a topic template containing {clientId}, without + or #' })

/** A file path, or the PEM text itself (handy for secrets mounted as env). */
const pem = (what: string) => nonEmpty(`${what}: a file path or PEM text`)

export const configSchema = z.strictObject({
  node: z.strictObject({
    id: z.string({ error: 'a string, or null for hostname-pid' }).min(1).nullable().default(null)
  }).prefault({}),
  mqtt: z.strictObject({
    host: nonEmpty('a host name or IP address').default('127.0.0.1'),
    port: port().default(1883),
    ws: z.strictObject({
      port: port().default(8083),
      path: z.string().regex(/^\//, { error: 'a URL path starting with /' }).default('/mqtt'),
      // MQTT over secure WebSocket (wss://) on the same port instead of ws:// (absent or null: ws://).
      tls: z.strictObject({
        cert: pem('certificate'),
        key: pem('private key')
      }).nullable().optional()
    }).nullable().prefault({}),
    tls: z.strictObject({
      port: port().default(8883),
      cert: pem('certificate'),
      key: pem('private key'),
      ca: pem('CA bundle').optional(),
      requestCert: z.boolean({ error: 'true or false' }).default(false)
    }).nullable().default(null),
    maxConnections: positiveInt('connections').default(100_000),
    maxPacketSize: positiveInt('bytes').max(268_435_455, { error: 'at most 268435455 bytes (the MQTT limit)' }).default(262_144),
    connectTimeout: duration().default(10_000),
    // One writev per connection per event-loop turn (broker/aedes/write-coalescing.ts); false: one per packet.
    coalesceWrites: z.boolean({ error: 'true or false' }).default(true)
  }).prefault({}),
  http: z.strictObject({
    host: nonEmpty('a host name or IP address').default('127.0.0.1'),
    port: port().default(8080),
    token: z.string().min(16, { error: 'a bearer token of at least 16 characters, or null' }).nullable().default(null),
    readToken: z.string().min(16, { error: 'a bearer token of at least 16 characters, or null' }).nullable().default(null),
    tls: z.strictObject({ cert: pem('certificate'), key: pem('private key') }).nullable().default(null),
    rateLimit: z.strictObject({
      requests: positiveInt('requests per address per window').default(600),
      window: duration().refine((ms) => ms >= 100, { error: 'at least 100ms' }).default(60_000)
    }).nullable().prefault({}),
    maxCommandsInFlight: positiveInt('commands waiting for an ack, all devices').default(1000),
    maxCommandsPerDevice: positiveInt('commands waiting for an ack, per device').default(10),
    maxEventStreams: positiveInt('open GET /api/events streams').default(100)
  }).nullable().prefault({}),
  persistence: z.strictObject({
    redis: z.string({ error: REDIS_URL_HELP }).refine(validRedisUrl, { error: REDIS_URL_HELP })
      .nullable().default(null)
  }).prefault({}),
  cluster: z.strictObject({
    // N broker processes on this machine sharing the ports, each a node on the same Redis.
    workers: positiveInt('broker processes').max(64, { error: 'at most 64 worker processes' }).default(1)
  }).prefault({}),
  liveness: z.strictObject({
    silentAfter: duration().default(90_000),
    heartbeatTopics: z.array(topicFilter()).min(1, { error: 'at least one topic filter' }).default(['#']),
    statusTopic: topicTemplate().default('$liveness/{clientId}'),
    kickSilentAfter: duration().nullable().default(null),
    forgetAfter: duration().default(30 * 86_400_000),
    rules: z.array(z.strictObject({
      clients: nonEmpty('a clientId glob like "sensor-*"').optional(),
      username: nonEmpty('a username').optional(),
      silentAfter: duration().optional(),
      heartbeatTopics: z.array(topicFilter()).min(1).optional(),
      track: z.boolean({ error: 'true or false' }).default(true)
    })).default([])
  }).prefault({}),
  wills: z.strictObject({
    stamp: z.boolean({ error: 'true or false' }).default(true),
    tsUnit: z.enum(['s', 'ms'], { error: 's or ms' }).default('s'),
    delay: duration().default(0)
  }).prefault({}),
  retained: z.strictObject({
    expire: z.array(z.strictObject({
      topic: topicFilter(),
      maxAge: duration()
    })).default([]),
    sweepInterval: duration().refine((ms) => ms >= 100, { error: 'at least 100ms' }).default(60_000)
  }).prefault({}),
  commands: z.strictObject({
    topic: topicTemplate().default('devices/{clientId}/commands'),
    ackTopic: topicTemplate().default('devices/{clientId}/commands/ack'),
    timeout: duration().refine((ms) => ms > 0, { error: 'more than 0' }).default(30_000),
    retries: z.number({ error: 'an integer from 0 to 10' }).int().min(0).max(10, { error: 'an integer from 0 to 10' }).default(2)
  }).prefault({}),
  auth: z.strictObject({
    allowAnonymous: z.boolean({ error: 'true, false, or null (allowed only on loopback with no other auth)' }).nullable().default(null),
    passwordFile: nonEmpty('a Mosquitto-compatible password file path, or null').nullable().default(null),
    aclFile: nonEmpty('a Mosquitto-compatible ACL file path, or null').nullable().default(null),
    clientIdMustMatch: z.enum(['username', 'certificate'], { error: 'null, username or certificate' }).nullable().default(null),
    certificateIdentity: z.boolean({ error: 'true or false' }).default(false),
    failureBan: z.strictObject({
      attempts: positiveInt('bad credentials before a ban').default(5),
      window: duration().refine((ms) => ms > 0, { error: 'more than 0' }).default(60_000),
      ban: duration().refine((ms) => ms > 0, { error: 'more than 0' }).default(60_000)
    }).nullable().prefault({})
  }).prefault({}),
  limits: z.strictObject({
    publishRate: z.number({ error: 'PUBLISH per second per client (> 0), or null' }).positive({ error: 'PUBLISH per second per client (> 0), or null' }).nullable().default(null),
    maxSubscriptions: positiveInt('subscriptions per client').default(1000),
    maxQueued: positiveInt('queued QoS 1/2 messages per offline session').default(1000),
    maxRetained: positiveInt('retained topics broker-wide').default(1_000_000)
  }).prefault({}),
  insights: z.strictObject({
    enabled: z.boolean({ error: 'true or false' }).default(true),
    birthTopic: topicTemplate().default('devices/{clientId}/status'),
    heartbeatTopic: topicTemplate().default('devices/{clientId}/heartbeat')
  }).prefault({}),
  log: z.strictObject({
    level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'], {
      error: 'one of fatal, error, warn, info, debug, trace, silent'
    }).default('info'),
    // Connection events (connects, refusals, protocol errors) per kind; the rest is a counted summary.
    rateLimit: z.strictObject({
      lines: z.number({ error: 'an integer number of lines, 0 or more' }).int({ error: 'an integer number of lines, 0 or more' })
        .min(0, { error: 'an integer number of lines, 0 or more' }).default(100),
      per: duration().refine((ms) => ms > 0, { error: 'more than 0' }).default(10_000)
    }).prefault({})
  }).prefault({})
}).superRefine((config, ctx) => {
  // Each worker is a node of one cluster, and nodes share sessions and routing through Redis.
  if (config.cluster.workers > 1 && config.persistence.redis === null) {
    ctx.addIssue({ code: 'custom', path: ['cluster', 'workers'], input: config.cluster.workers,
      message: '1 unless persistence.redis is set (the workers share sessions and routing through Redis)' })
  }
})

/** 127.0.0.0/8, ::1 and localhost: reachable only from this machine. */
export function isLoopbackHost (host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host)
}

/** The cross-key rules of section auth: what would put an open broker on a network stops start-up. */
export const securedConfigSchema = configSchema.superRefine((config, ctx) => {
  const { auth, mqtt } = config
  if (auth.certificateIdentity && mqtt.tls?.requestCert !== true) {
    ctx.addIssue({ code: 'custom', path: ['auth', 'certificateIdentity'], message: 'false unless mqtt.tls.requestCert is true (the CN comes from the client certificate)' })
  }
  if (auth.clientIdMustMatch === 'certificate' && mqtt.tls?.requestCert !== true) {
    ctx.addIssue({ code: 'custom', path: ['auth', 'clientIdMustMatch'], message: 'null or username unless mqtt.tls.requestCert is true' })
  }
  if (!isLoopbackHost(mqtt.host) && auth.passwordFile === null && !auth.certificateIdentity && auth.allowAnonymous !== true) {
    ctx.addIssue({
      code: 'custom',
      path: ['auth', 'allowAnonymous'],
      message: `auth.passwordFile or auth.certificateIdentity (or allowAnonymous: true to accept anonymous clients) with the non-loopback listener mqtt.host ${mqtt.host}`
    })
  }
})

export type VigilConfig = z.output<typeof configSchema>
/** What a config file or a test may say: any subset, before defaults. */
export type VigilConfigInput = z.input<typeof configSchema>
