/**
 * mqtt.maxConnections as a built-in authenticate hook: the connection over the
 * limit gets CONNACK 3 "server unavailable" [MQTT-3.2.2-3] and is closed. A
 * takeover of an id already connected here does not add a connection, so it passes.
 */
import type { Aedes, Client } from 'aedes'
import { liveClient } from './aedes/index.js'
import { ConnackCode, ConnectRefused } from './errors.js'
import type { PluginHooks, VigilPlugin } from './plugin-types.js'

export function connectionLimits (broker: Aedes, maxConnections: number): VigilPlugin {
  return {
    name: 'core',
    async setup (): Promise<PluginHooks> {
      return {
        authenticate (client: Client) {
          if (broker.connectedClients >= maxConnections && liveClient(broker, client.id) === undefined) {
            throw new ConnectRefused(ConnackCode.SERVER_UNAVAILABLE, `maxConnections (${maxConnections}) reached`)
          }
        }
      }
    }
  }
}
