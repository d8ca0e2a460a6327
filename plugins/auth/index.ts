/**
 * The auth plugin (contract section 9, issue 14): who may connect (password
 * file, mTLS identity, anonymous policy, failure ban) and what each client may
 * publish and read (Mosquitto ACL file). Registered FIRST: a refused CONNECT
 * must not take an epoch or mark another device's connection as taken over.
 */
import { definePlugin } from '../../broker/plugin-types.js'
import { AuthAdapter } from './adapter.js'

export const authPlugin = definePlugin({
  name: 'auth',
  configKey: 'auth',
  async setup (ctx) {
    const adapter = new AuthAdapter(ctx)
    ctx.provide('auth', adapter)
    return adapter.hooks()
  }
})

export default authPlugin
