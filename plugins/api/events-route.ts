/**
 * GET /api/events: Server-Sent Events, one `liveness` event per status
 * transition (the status object as data), and a comment line every
 * `heartbeatMs` so proxies and load balancers keep the stream open.
 */
import type { ServerResponse } from 'node:http'
import type { FastifyInstance } from 'fastify'
import { documented } from '../../broker/openapi.js'
import type { LivenessService } from '../liveness/service.js'
import { STREAM_EVENTS } from './route-docs.js'
import { isPlainObject, rejectUnknown } from './validation.js'

/** A reader this far behind is dropped rather than buffered without bound. */
const MAX_BUFFERED_BYTES = 1024 * 1024

export interface EventStreams {
  readonly open: number
  /** End every open stream (shutdown: an open stream would hold the HTTP server open). */
  closeAll(): void
}

export function registerEventsRoute (app: FastifyInstance, liveness: LivenessService, heartbeatMs: number,
  maxStreams = Number.POSITIVE_INFINITY, onRefused: () => void = () => {}): EventStreams {
  const streams = new Set<() => void>()

  app.get('/api/events', documented(STREAM_EVENTS), (request, reply) => {
    rejectUnknown(isPlainObject(request.query) ? request.query : {}, [], 'query parameter')
    // Each stream holds a socket and a listener: capped (http.maxEventStreams), counted when refused.
    if (streams.size >= maxStreams) {
      onRefused()
      return reply.code(503).header('retry-after', '10').send({ error: 'too_many_streams', message: `${streams.size} event streams are open (http.maxEventStreams)` })
    }
    reply.hijack()
    const res: ServerResponse = reply.raw
    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache, no-transform',
      connection: 'keep-alive',
      // nginx buffers responses unless told not to.
      'x-accel-buffering': 'no'
    })
    let ended = false
    const end = (): void => {
      if (ended) return
      ended = true
      unsubscribe()
      clearInterval(beat)
      streams.delete(end)
      res.end()
    }
    const send = (chunk: string): void => {
      if (ended) return
      if (res.writableLength > MAX_BUFFERED_BYTES) return end()
      res.write(chunk)
    }
    const unsubscribe = liveness.onTransition((status) => {
      send(`event: liveness\ndata: ${JSON.stringify(status)}\n\n`)
    })
    const beat = setInterval(() => send(': heartbeat\n\n'), heartbeatMs)
    beat.unref()
    streams.add(end)
    request.raw.once('close', end)
    res.once('close', end)
    res.on('error', end)
    // Sent at once so the client sees the headers and knows the stream is open.
    send(': connected\n\n')
  })

  return {
    get open () { return streams.size },
    closeAll () {
      for (const end of [...streams]) end()
    }
  }
}
