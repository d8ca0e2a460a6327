/**
 * The fleet page (issue 19): GET / serves a static page that reads the API
 * from the browser (counts, devices, live /api/events, device view, commands,
 * decommission). It is plain HTML, CSS and ES modules with no build step and
 * no external resource, so it works with no internet. `/` and `/page/*` are
 * outside /api/, so with `http.token` set the page still loads and asks for
 * the token, which it then sends as `Authorization: Bearer` to /api/*.
 *
 * It also adds one small read-only route the device view needs:
 * GET /api/devices/{clientId}/will (last-will.ts).
 */
import { documented } from '../../broker/openapi.js'
import { definePlugin } from '../../broker/plugin-types.js'
import { ApiError } from '../api/http-errors.js'
import { clientIdParam, isPlainObject, rejectUnknown } from '../api/validation.js'
import '../liveness/service.js'
import { retainedOn, WillRegistry, type LastWill } from './last-will.js'
import { FLEET_PAGE, LAST_WILL_DOC, PAGE_FILE } from './route-docs.js'
import { loadStaticFiles } from './static-files.js'

/** What the page may load: itself, and nothing from anywhere else. */
const SECURITY_HEADERS = {
  'content-security-policy': "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; " +
    "img-src 'self' data:; form-action 'none'; frame-ancestors 'none'; base-uri 'none'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  // Small files that change with the broker's version: revalidate rather than cache stale code.
  'cache-control': 'no-cache'
}

export const pagePlugin = definePlugin({
  name: 'page',
  needs: ['liveness'],
  async setup (ctx) {
    const liveness = ctx.need('liveness')
    const files = loadStaticFiles()
    const wills = new WillRegistry()
    // 'client' (registered, will stored) comes before the CONNACK; 'clientReady' only after it.
    ctx.on('client', (client) => wills.noteConnect(client, ctx.now()))

    return {
      routes (app) {
        const serve = (name: string) => async (_request: unknown, reply: import('fastify').FastifyReply) => {
          const file = files.get(name)
          if (file === undefined) throw new ApiError(404, 'not_found', `no page file ${name}`)
          return reply.headers(SECURITY_HEADERS).type(file.type).send(file.body)
        }
        app.get('/', documented(FLEET_PAGE), serve('index.html'))
        app.get('/page/:file', documented(PAGE_FILE), async (request, reply) => {
          const file = isPlainObject(request.params) ? String(request.params.file) : ''
          return await serve(file)(request, reply)
        })

        app.get('/api/devices/:clientId/will', documented(LAST_WILL_DOC), async (request): Promise<LastWill> => {
          rejectUnknown(isPlainObject(request.query) ? request.query : {}, [], 'query parameter')
          const clientId = clientIdParam(request.params)
          if (liveness.get(clientId) === undefined) {
            // Decommissioned or forgotten: its will goes with it.
            wills.forget(clientId)
            throw new ApiError(404, 'unknown_device', `no device ${JSON.stringify(clientId)} is known`)
          }
          const registered = wills.registered(clientId) ?? null
          const topic = registered?.topic ?? `devices/${clientId}/status`
          let retained
          try {
            retained = await retainedOn(ctx.broker, topic)
          } catch (err) {
            ctx.reportError(err, 'retained lookup for the will view failed')
            throw new ApiError(503, 'unavailable', 'the retained store did not answer; retry')
          }
          return { clientId, topic, registered, retained }
        })
      }
    }
  }
})

export default pagePlugin
