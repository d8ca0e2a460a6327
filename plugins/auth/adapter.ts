/**
 * The auth adapter (issue 14): CONNECT identity (password file, mTLS CN,
 * anonymous policy, clientIdMustMatch, failure ban), the ACL on PUBLISH,
 * SUBSCRIBE and delivery, and SIGHUP reloads. Decisions come from the pure
 * cores beside it (decide.ts, acl.ts, failure-ban.ts, password-file.ts).
 */
import { readFileSync } from 'node:fs'
import type { AedesPublishPacket, Client, PublishPacket, Subscription } from 'aedes'
import { clientSlot, connectWill, liveClients, realFilter, subscriptionsOf } from '../../broker/aedes/index.js'
import { certificateCommonName, remoteAddress, setAuthenticatedUsername } from '../../broker/client-identity.js'
import { ConnackCode, ConnectRefused, errorMessage, PublishDenied, VigilError } from '../../broker/errors.js'
import type { PluginContext, PluginHooks } from '../../broker/plugin-types.js'
import type { ScheduledTask } from '../../broker/scheduler.js'
import { isLoopbackHost, type VigilConfig } from '../../config/schema.js'
import { fillTemplate } from '../commands/topics.js'
import { AclSyntaxError, parseAclFile, type AclFile } from './acl-file.js'
import { compileClientAcl, type BrokerRules, type ClientAcl } from './acl.js'
import { CredentialCache } from './credential-cache.js'
import { anonymousAllowed, decideConnect } from './decide.js'
import { FailureBan } from './failure-ban.js'
import { registerAuthMetrics, type AuthMetrics } from './metrics.js'
import { parsePasswordFile, verifyPassword, type PasswordEntry } from './password-file.js'

type Config = VigilConfig['auth']

/** Verifications waiting for the thread pool; past this a CONNECT gets CONNACK 3 (retry later). */
const MAX_PENDING_VERIFICATIONS = 512

interface ClientAuth {
  username: string | undefined
  acl: ClientAcl | null
  /** Some subscription is only partly covered by read grants: check each delivery. */
  partial: boolean
  /** Authenticated by the password file (so a reload that removes the user ends it). */
  viaPassword: boolean
}
const AUTH = clientSlot<ClientAuth>('vigil.auth')

export interface AuthService {
  /** Re-read passwordFile and aclFile (SIGHUP); on a bad file the old one stays and this rejects. */
  reload(): Promise<void>
}

declare module '../../broker/services.js' {
  interface Services { auth: AuthService }
}

/** A PBKDF2 entry nobody's password matches: an unknown user costs as much as a known one. */
const DECOY: PasswordEntry = { kind: 'pbkdf2', iterations: 101, salt: Buffer.alloc(12), hash: Buffer.alloc(64, 1), line: '' }

export class AuthAdapter implements AuthService {
  readonly #ctx: PluginContext<Config>
  readonly #config: Config
  readonly #metrics: AuthMetrics
  readonly #cache = new CredentialCache()
  readonly #ban: FailureBan | null
  readonly #anonymous: boolean
  readonly #alwaysReadable: string[]
  #users: ReadonlyMap<string, PasswordEntry> | null = null
  #acl: AclFile | null = null
  #pending = 0
  #sweep: ScheduledTask | null = null

  constructor (ctx: PluginContext<Config>) {
    this.#ctx = ctx
    this.#config = ctx.config
    this.#metrics = registerAuthMetrics(ctx.metrics)
    this.#ban = this.#config.failureBan !== null ? new FailureBan(this.#config.failureBan) : null
    const loopback = isLoopbackHost(ctx.vigil.mqtt.host)
    this.#anonymous = anonymousAllowed(this.#config.allowAnonymous, this.#config.passwordFile !== null,
      this.#config.certificateIdentity, loopback)
    this.#alwaysReadable = [statusSpace(ctx.vigil.liveness.statusTopic)]
    this.#users = this.#loadPasswords()
    this.#acl = this.#loadAcl()
    const http = ctx.vigil.http
    if (http !== null && !isLoopbackHost(http.host) && http.token === null) {
      // Not refused (the contract does not ask it), but loud: one DELETE decommissions a device.
      ctx.log.warn({ host: http.host }, 'the HTTP API listens beyond loopback without http.token: anyone who reaches it can kick and decommission devices')
    }
  }

  hooks (): PluginHooks {
    if (this.#ban !== null) {
      this.#sweep = this.#ctx.scheduler.every(10_000, () => this.#ban?.sweep(this.#ctx.now()))
    }
    const hooks: PluginHooks = {
      authenticate: (client, username, password) => this.#authenticate(client, username, password),
      authorizeSubscribe: (client, sub) => this.#authorizeSubscribe(client, sub),
      close: () => { this.#sweep?.cancel() }
    }
    // With no ACL file nothing is checked per PUBLISH or per delivery: no hook at all on those paths.
    if (this.#config.aclFile !== null) {
      hooks.authorizePublish = (client, packet) => this.#authorizePublish(client, packet)
      hooks.authorizeForward = (client, packet) => this.#authorizeForward(client, packet)
    }
    return hooks
  }

  // ---- files -------------------------------------------------------------

  #loadPasswords (): ReadonlyMap<string, PasswordEntry> | null {
    const file = this.#config.passwordFile
    if (file === null) return null
    let text: string
    try {
      text = readFileSync(file, 'utf8')
    } catch (err) {
      throw new VigilError('VIGIL_E_CONFIG', `auth.passwordFile ${file} cannot be read: ${errorMessage(err)}`, err)
    }
    const parsed = parsePasswordFile(text)
    for (const problem of parsed.problems) {
      // Never the line itself: it holds a hash.
      this.#ctx.log.warn({ file, line: problem.line }, `password file line ignored: ${problem.message}`)
    }
    return parsed.users
  }

  #loadAcl (): AclFile | null {
    const file = this.#config.aclFile
    if (file === null) return null
    try {
      return parseAclFile(readFileSync(file, 'utf8'))
    } catch (err) {
      const what = err instanceof AclSyntaxError ? err.message : `cannot be read: ${errorMessage(err)}`
      throw new VigilError('VIGIL_E_CONFIG', `auth.aclFile ${file} ${what}`, err)
    }
  }

  async reload (): Promise<void> {
    const users = this.#loadPasswords()
    const acl = this.#loadAcl()
    this.#users = users
    this.#acl = acl
    this.#cache.clear()
    const liveness = this.#ctx.maybe('liveness')
    let kicked = 0
    for (const client of liveClients(this.#ctx.broker)) {
      const state = AUTH.get(client)
      if (state === undefined) continue
      // A user removed from the file loses the connection its password opened.
      if (users !== null && state.username !== undefined && state.viaPassword && !users.has(state.username)) {
        kicked++
        if (liveness !== undefined) await liveness.kick(client.id, 'kicked')
        else client.close()
        continue
      }
      if (acl !== null) {
        state.acl = compileClientAcl(acl, { clientId: client.id, username: state.username }, this.#brokerRules(client.id, state.username))
        state.partial = Object.keys(subscriptionsOf(client)).some((filter) => state.acl!.subscribe(realFilter(filter)) !== 'full')
      }
    }
    this.#ctx.log.info({ users: users?.size ?? null, kicked }, 'auth files reloaded')
  }

  #brokerRules (clientId: string, username: string | undefined): BrokerRules {
    return {
      alwaysReadable: this.#alwaysReadable,
      alwaysWritable: [fillTemplate(this.#ctx.vigil.commands.ackTopic, { clientId, username })]
    }
  }

  // ---- CONNECT -----------------------------------------------------------

  async #authenticate (client: Client, username: string | undefined, password: Buffer | undefined): Promise<void> {
    const address = remoteAddress(client)
    const now = this.#ctx.now()
    if (this.#ban?.banned(address, now) === true) {
      return this.#refuse(5, 'banned', 'too many bad credentials from this address')
    }
    const certificateName = this.#config.certificateIdentity ? certificateCommonName(client) : null
    let passwordOk: boolean | null = null
    if (certificateName === null && username !== undefined && this.#users !== null) {
      passwordOk = await this.#checkPassword(username, password ?? Buffer.alloc(0))
    }
    const decision = decideConnect({
      clientId: client.id,
      username,
      certificateName,
      passwordOk,
      anonymousAllowed: this.#anonymous,
      clientIdMustMatch: this.#config.clientIdMustMatch
    })
    if (!decision.ok) {
      if (decision.reason === 'bad_credentials' && this.#ban?.failed(address, this.#ctx.now()) === true) {
        this.#ctx.log.warn({ address }, 'source address banned after repeated bad credentials')
      }
      return this.#refuse(decision.returnCode, decision.reason, decision.message)
    }
    if (passwordOk === true) this.#ban?.succeeded(address)
    setAuthenticatedUsername(client, decision.username)
    const state: ClientAuth = {
      username: decision.username,
      acl: this.#acl !== null
        ? compileClientAcl(this.#acl, { clientId: client.id, username: decision.username }, this.#brokerRules(client.id, decision.username))
        : null,
      partial: false,
      viaPassword: passwordOk === true
    }
    const will = connectWill(client)
    if (will != null && state.acl !== null && !state.acl.canWrite(will.topic)) {
      this.#metrics.denied('publish')
      throw new ConnectRefused(ConnackCode.NOT_AUTHORIZED, 'the ACL does not allow this client to publish its will topic')
    }
    AUTH.set(client, state)
  }

  async #checkPassword (username: string, password: Buffer): Promise<boolean> {
    const entry = this.#users?.get(username)
    if (entry !== undefined && this.#cache.has(username, entry, password)) return true
    if (this.#pending >= MAX_PENDING_VERIFICATIONS) {
      throw new ConnectRefused(ConnackCode.SERVER_UNAVAILABLE, 'too many logins being verified; retry later')
    }
    this.#pending++
    try {
      const ok = await verifyPassword(entry ?? DECOY, password)
      if (ok && entry !== undefined) {
        this.#cache.remember(username, entry, password)
        return true
      }
      return false
    } finally {
      this.#pending--
    }
  }

  /** Counted here; logged (clientId, username, address, rate-limited) by broker/connection-log.ts from the CONNACK. */
  #refuse (code: 2 | 4 | 5, reason: Parameters<AuthMetrics['failure']>[0], message: string): never {
    this.#metrics.failure(reason)
    throw new ConnectRefused(code, message)
  }

  // ---- packets -----------------------------------------------------------

  #authorizeSubscribe (client: Client, sub: Subscription): Subscription | null {
    const state = AUTH.get(client)
    if (state === undefined) return sub
    if (state.acl === null) {
      // No ACL file: every topic, except $SYS (clientIds and filters of everyone) for anonymous clients.
      if (state.username === undefined && sub.topic.startsWith('$SYS')) {
        this.#metrics.denied('subscribe')
        return null
      }
      return sub
    }
    const grant = state.acl.subscribe(sub.topic)
    if (grant === 'denied') {
      this.#metrics.denied('subscribe')
      return null
    }
    if (grant === 'partial') state.partial = true
    return sub
  }

  /** Hot path: one cached string compare for a device publishing to the same topic again. */
  #authorizePublish (client: Client | null, packet: PublishPacket): void {
    if (client === null) return
    const acl = AUTH.get(client)?.acl
    if (acl == null || acl.canWrite(packet.topic)) return
    this.#metrics.denied('publish')
    throw new PublishDenied(`client ${client.id} may not publish to ${packet.topic}`)
  }

  /** Per delivery, only for clients with a partly covered subscription. */
  #authorizeForward (client: Client, packet: AedesPublishPacket): AedesPublishPacket | null {
    const state = AUTH.get(client)
    if (state === undefined || !state.partial || state.acl === null) return packet
    return state.acl.canRead(packet.topic) ? packet : null
  }
}

/** The status topic's whole space ("$liveness/#"), or its filter when it is not under a '$' prefix of its own. */
function statusSpace (template: string): string {
  const levels = template.split('/')
  const firstDynamic = levels.findIndex((level) => level.includes('{'))
  if (template.startsWith('$') && firstDynamic > 0) return [...levels.slice(0, firstDynamic), '#'].join('/')
  return levels.map((level) => level.includes('{') ? '+' : level).join('/')
}
