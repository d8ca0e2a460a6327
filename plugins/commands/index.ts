/**
 * Commands that wait for the device's ack (docs/http-api.md and docs/device-protocol.md):
 * POST /api/devices/{clientId}/commands publishes QoS 1 on `commands.topic`
 * and waits for `{"id","status","result"}` on that device's `commands.ackTopic`.
 *
 * Acks are heard through one internal subscription on the broker's emitter
 * (`broker.subscribe`), which in Redis mode carries every node's publishes:
 * the HTTP request may land on node A while the device is on node B.
 * Only the device itself may publish on its own ack topic (authorizePublish).
 */
import { randomUUID } from 'node:crypto'
import type { AedesPublishPacket, Client, PublishPacket } from 'aedes'
import { Counter, Histogram } from 'prom-client'
import { liveClient } from '../../broker/aedes/index.js'
import { VigilError } from '../../broker/errors.js'
import { documented } from '../../broker/openapi.js'
import { definePlugin } from '../../broker/plugin-types.js'
import { ApiError, badRequest } from '../api/http-errors.js'
import { clientIdParam, isPlainObject, rejectUnknown } from '../api/validation.js'
import '../liveness/service.js'
import { commandPayload, isCommandId, parseAck, parseCommandRequest, type CommandRecord } from './messages.js'
import { GET_COMMAND, SEND_COMMAND } from './route-docs.js'
import { CommandRunner } from './runner.js'
import { MemoryCommandStore, RedisCommandStore, type CommandStore } from './store.js'
import { fillTemplate, isAddressable, needsUsername, topicPattern } from './topics.js'
import { publishAsync } from '../../broker/publish.js'

export const COMMAND_OUTCOMES = ['acked', 'failed', 'timeout', 'rejected_offline', 'rejected_busy'] as const

export const commandsPlugin = definePlugin({
  name: 'commands',
  configKey: 'commands',
  needs: ['liveness'],
  async setup (ctx) {
    const { broker, config } = ctx
    const liveness = ctx.need('liveness')
    const ackPattern = topicPattern(config.ackTopic)
    // Aedes keeps no username on the client; templates with {username} need it remembered.
    const withUsername = needsUsername(config.topic) || needsUsername(config.ackTopic)
    const usernames = new WeakMap<Client, string>()

    const outcomes = new Counter({
      name: 'vigil_commands_total',
      help: 'Commands sent through the API, by outcome',
      labelNames: ['outcome'],
      registers: [ctx.metrics]
    })
    for (const outcome of COMMAND_OUTCOMES) outcomes.inc({ outcome }, 0)
    const ackSeconds = new Histogram({
      name: 'vigil_command_ack_seconds',
      help: 'Time from the first send of a command to the device\'s ack (ok or error)',
      buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
      registers: [ctx.metrics]
    })

    const store: CommandStore = ctx.redis !== null ? new RedisCommandStore(ctx.redis) : new MemoryCommandStore(ctx.now)
    const runner = new CommandRunner({
      scheduler: ctx.scheduler,
      publish: async (topic, payload) => await publishAsync(broker, { cmd: 'publish', topic, payload, qos: 1, retain: false, dup: false } as PublishPacket)
    })

    const onAck = (packet: AedesPublishPacket, done: () => void): void => {
      try {
        const who = ackPattern.match(packet.topic)
        const ack = who !== null ? parseAck(packet.payload) : null
        if (who !== null && ack !== null && !runner.deliverAck(who.clientId, ack)) {
          ctx.log.debug({ clientId: who.clientId, id: ack.id }, 'ack for no waiting command (late, duplicate or unknown) ignored')
        }
      } catch (err) {
        ctx.reportError(err, 'ack handling failed')
      }
      done()
    }
    await new Promise<void>((resolve) => broker.subscribe(ackPattern.filter, onAck, resolve))

    const inFlight = new Map<string, number>()
    let inFlightTotal = 0
    const save = (clientId: string, record: CommandRecord): Promise<void> =>
      store.put(clientId, record).catch((err) => ctx.reportError(err, 'command record not stored'))

    return {
      ...(withUsername
        ? { authenticate (client: Client, username: string | undefined) { if (username !== undefined) usernames.set(client, username) } }
        : {}),

      // Hot path: a literal prefix/suffix test first; the regex runs only on candidate ack topics.
      authorizePublish (client: Client | null, packet: PublishPacket) {
        if (client === null || !ackPattern.mayMatch(packet.topic)) return
        const owner = ackPattern.match(packet.topic)
        if (owner === null) return
        if (owner.clientId !== client.id || (owner.username !== undefined && owner.username !== usernames.get(client))) {
          throw new VigilError('VIGIL_E_PUBLISH_REFUSED', `client ${client.id} may not publish on another device's ack topic ${packet.topic}`)
        }
      },

      routes (app) {
        app.post('/api/devices/:clientId/commands', documented(SEND_COMMAND), async (request, reply) => {
          rejectUnknown(isPlainObject(request.query) ? request.query : {}, [], 'query parameter')
          const clientId = clientIdParam(request.params)
          if (!isAddressable(clientId)) {
            throw badRequest('bad_client_id', 'commands need a client id without "/", "+", "#" (it is put into a topic)')
          }
          const spec = parseCommandRequest(request.body, config)
          const status = liveness.get(clientId)
          if (status === undefined || status.state === 'offline') {
            outcomes.inc({ outcome: 'rejected_offline' })
            throw new ApiError(409, 'device_offline', status === undefined
              ? `device ${clientId} is unknown (never connected, or forgotten)`
              : `device ${clientId} is offline (${status.reason ?? 'unknown reason'}) since ${new Date(status.since).toISOString()}`)
          }
          let username: string | undefined
          if (withUsername) {
            const local = liveClient(broker, clientId)
            username = local !== undefined ? usernames.get(local) : undefined
            if (username === undefined) {
              throw new ApiError(409, 'username_unknown', 'the commands topics use {username}, which is known only on the node the device is connected to')
            }
          }
          if (ctx.maybe('lifecycle')?.shuttingDown === true) throw new ApiError(503, 'shutting_down', 'the broker is shutting down')

          // Bounded: each waiting command holds a request and a timer (issue 14: 2,000 held POSTs were +37 MB).
          const limits = ctx.vigil.http
          const perDevice = inFlight.get(clientId) ?? 0
          if (limits !== null && (perDevice >= limits.maxCommandsPerDevice || inFlightTotal >= limits.maxCommandsInFlight)) {
            outcomes.inc({ outcome: 'rejected_busy' })
            throw new ApiError(429, 'too_many_commands', perDevice >= limits.maxCommandsPerDevice
              ? `device ${clientId} already has ${perDevice} commands waiting (http.maxCommandsPerDevice)`
              : `${inFlightTotal} commands are waiting (http.maxCommandsInFlight); retry later`)
          }
          inFlight.set(clientId, perDevice + 1)
          inFlightTotal++
          try {
            return await send(clientId, spec, status, username, reply)
          } finally {
            inFlightTotal--
            const left = (inFlight.get(clientId) ?? 1) - 1
            if (left === 0) inFlight.delete(clientId)
            else inFlight.set(clientId, left)
          }
        })

        const send = async (clientId: string, spec: ReturnType<typeof parseCommandRequest>, status: NonNullable<ReturnType<typeof liveness.get>>,
          username: string | undefined, reply: import('fastify').FastifyReply): Promise<unknown> => {
          const id = randomUUID()
          const silent = status.state === 'silent' ? { silent: true as const } : {}
          const topic = fillTemplate(config.topic, { clientId, username })
          const outcome = await runner.run({
            id,
            clientId,
            topic,
            payload: commandPayload(id, spec, ctx.now()),
            timeoutMs: spec.timeoutMs,
            retries: spec.retries,
            onAttempt: (attempts) => { void save(clientId, { id, status: 'pending', attempts, ...silent }) }
          })
          if (outcome.status === 'aborted') {
            throw new ApiError(503, 'shutting_down', `the broker is shutting down; command ${id} was sent ${outcome.attempts} time(s), its outcome is unknown`)
          }
          let record: CommandRecord
          if (outcome.status === 'timeout') {
            outcomes.inc({ outcome: 'timeout' })
            record = { id, status: 'timeout', attempts: outcome.attempts, ...silent }
          } else {
            outcomes.inc({ outcome: outcome.status })
            ackSeconds.observe(outcome.latencyMs / 1000)
            record = { id, status: outcome.status, result: outcome.result, attempts: outcome.attempts, latencyMs: outcome.latencyMs, ...silent }
          }
          await save(clientId, record)
          ctx.log.info({ clientId, id, command: spec.command, status: record.status, attempts: record.attempts }, 'command finished')
          return reply.code(record.status === 'timeout' ? 504 : 200).send(record)
        }

        app.get('/api/devices/:clientId/commands/:id', documented(GET_COMMAND), async (request) => {
          rejectUnknown(isPlainObject(request.query) ? request.query : {}, [], 'query parameter')
          const clientId = clientIdParam(request.params)
          const id = (request.params as { id?: unknown }).id
          if (!isCommandId(id)) throw badRequest('bad_command_id', 'a command id is a UUID as returned by POST .../commands')
          let record: CommandRecord | undefined
          try {
            record = await store.get(clientId, id)
          } catch (err) {
            ctx.reportError(err, 'command record not readable')
            throw new ApiError(503, 'unavailable', 'the command store does not answer; retry')
          }
          if (record === undefined) throw new ApiError(404, 'unknown_command', `no command ${id} for device ${clientId} (records are kept 24 h)`)
          return record
        })
      },

      // Waiting requests answer 503 at once rather than hold the HTTP server open.
      beforeShutdown () {
        runner.close()
      },

      // The emitter (and with it the ack subscription) is closed with the broker.
      close () {
        runner.close()
      }
    }
  }
})

export default commandsPlugin
