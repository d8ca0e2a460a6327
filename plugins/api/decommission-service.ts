/**
 * The decommission service that DELETE /api/devices/{clientId} calls
 * (docs/topics-and-payloads.md#retained-lifecycle). The retained plugin provides it; the API looks it up
 * at request time and answers 501 while no plugin does.
 */
export interface DecommissionService {
  /**
   * Disconnect the client (reason `kicked`), clear its status and every retained
   * message under `devices/{clientId}/#`, forget it. `cleared` counts the
   * retained messages cleared.
   */
  decommission(clientId: string): Promise<{ kicked: boolean, cleared: number }>
}

declare module '../../broker/services.js' {
  interface Services { decommission: DecommissionService }
}
