/**
 * The insights plugin (issue 18): firmware, reboots, clock skew, flapping and
 * remote address on every device's status; per-device transition history,
 * availability and the fleet summary for the HTTP API; their metrics.
 * Runs after liveness, whose statuses it extends (`insights.enabled: false`
 * turns it off).
 */
import { definePlugin } from '../../broker/plugin-types.js'
import '../liveness/service.js'
import { InsightsAdapter } from './adapter.js'
import './service.js'

export const insightsPlugin = definePlugin({
  name: 'insights',
  configKey: 'insights',
  needs: ['liveness'],
  enabled: (config) => config.insights.enabled,
  async setup (ctx) {
    const adapter = new InsightsAdapter(ctx)
    const hooks = adapter.attach()
    ctx.provide('insights', adapter)
    return hooks
  }
})

export default insightsPlugin
