/**
 * The auth metrics, on the instance's registry, every series present at 0
 * from start-up: refusals by reason and ACL denials by action.
 */
import { Counter, type Registry } from 'prom-client'

export const AUTH_FAILURE_REASONS = ['bad_credentials', 'anonymous', 'banned', 'client_id'] as const
export type AuthFailureReason = typeof AUTH_FAILURE_REASONS[number]
export const ACL_ACTIONS = ['publish', 'subscribe'] as const
export type AclAction = typeof ACL_ACTIONS[number]

export interface AuthMetrics {
  failure(reason: AuthFailureReason): void
  denied(action: AclAction): void
}

export function registerAuthMetrics (registry: Registry): AuthMetrics {
  const failures = new Counter({
    name: 'vigil_auth_failures_total',
    help: 'CONNECTs refused by authentication, by reason',
    labelNames: ['reason'],
    registers: [registry]
  })
  for (const reason of AUTH_FAILURE_REASONS) failures.inc({ reason }, 0)
  const denied = new Counter({
    name: 'vigil_acl_denied_total',
    help: 'PUBLISHes (wills included) and SUBSCRIBE filters the ACL refused, by action',
    labelNames: ['action'],
    registers: [registry]
  })
  for (const action of ACL_ACTIONS) denied.inc({ action }, 0)
  // Labelled children resolved once: the denial path may run per PUBLISH.
  const failureChild = Object.fromEntries(AUTH_FAILURE_REASONS.map((r) => [r, failures.labels({ reason: r })])) as Record<AuthFailureReason, Counter.Internal>
  const deniedChild = Object.fromEntries(ACL_ACTIONS.map((a) => [a, denied.labels({ action: a })])) as Record<AclAction, Counter.Internal>
  return {
    failure: (reason) => failureChild[reason].inc(),
    denied: (action) => deniedChild[action].inc()
  }
}
