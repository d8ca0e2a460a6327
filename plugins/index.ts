/**
 * The plugins a Vigil broker runs, in registration order. Order matters: hooks
 * compose in this order, and a plugin may only `need` services of those before it.
 */
import type { VigilPlugin } from '../broker/plugin-types.js'
import { livenessPlugin } from './liveness/index.js'
import { willsPlugin } from './wills/index.js'

export const defaultPlugins: ReadonlyArray<VigilPlugin<any>> = [livenessPlugin, willsPlugin]
