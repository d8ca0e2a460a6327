/**
 * The plugins a Vigil broker runs, in registration order. Order matters: hooks
 * compose in this order, and a plugin may only `need` services of those before it.
 * `auth` stays FIRST: a refused CONNECT must reach no other plugin.
 * `metrics` stays LAST: it counts deliveries in authorizeForward, and only a hook
 * after every other one sees the messages that are really forwarded.
 */
import type { VigilPlugin } from '../broker/plugin-types.js'
import { apiPlugin } from './api/index.js'
import { authPlugin } from './auth/index.js'
import { commandsPlugin } from './commands/index.js'
import { limitsPlugin } from './limits/index.js'
import { insightsPlugin } from './insights/index.js'
import { livenessPlugin } from './liveness/index.js'
import { metricsPlugin } from './metrics/index.js'
import { pagePlugin } from './page/index.js'
import retained from './retained/index.js'
import { willsPlugin } from './wills/index.js'

export const defaultPlugins: ReadonlyArray<VigilPlugin<any>> = [authPlugin, limitsPlugin, livenessPlugin, insightsPlugin, willsPlugin, retained, apiPlugin(), commandsPlugin, pagePlugin, metricsPlugin]
