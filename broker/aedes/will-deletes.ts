/**
 * Aedes deletes a client's stored will by (clientId, brokerId) when it closes
 * the client (lib/client.js close -> persistence.delWill), whichever
 * connection of that id stored it last. The wills plugin needs to act once such
 * a delete has completed (a same-node takeover's new will must be stored
 * again), and aedes-persistence-redis reads before it deletes, so nothing
 * issued meanwhile is safe: the delete itself is wrapped, here, once.
 */
import type { Aedes } from 'aedes'
import { persistenceOf } from './broker-fields.js'

/**
 * Who a delWill is for. At close Aedes passes { id, brokerId }; at CONNECT
 * (handlers/connect.js storeWill) it passes the client itself, which has no
 * brokerId (pinned in test/unit/aedes-boundary.test.ts).
 */
export interface StoredWillKey { id: string, brokerId?: string }

/**
 * Call `after` once each delWill has completed (its result is passed on
 * unchanged). Aedes assigns its persistence in listen(): install after it.
 */
export function afterWillDeleted (broker: Aedes, after: (who: StoredWillKey) => Promise<void>): void {
  const store = persistenceOf(broker)
  const delWill = store.delWill.bind(store)
  store.delWill = async (who) => {
    const result = await delWill(who)
    await after(who)
    return result
  }
}
