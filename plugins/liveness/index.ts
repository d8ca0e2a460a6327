/**
 * The liveness plugin (docs/topics-and-payloads.md, issue 3): online / silent /
 * offline with reasons and epochs for every client, published retained on
 * `liveness.statusTopic`, and the `liveness` and `decommission` services for
 * the other plugins.
 */
import { definePlugin } from '../../broker/plugin-types.js'
import { LivenessAdapter } from './adapter.js'

export const livenessPlugin = definePlugin({
  name: 'liveness',
  configKey: 'liveness',
  async setup (ctx) {
    const adapter = new LivenessAdapter(ctx)
    const hooks = adapter.attach()
    ctx.provide('liveness', adapter)
    ctx.provide('decommission', adapter.decommission)
    return hooks
  }
})

export default livenessPlugin
