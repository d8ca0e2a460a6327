/**
 * `persistence.redis` as ioredis options. Three forms:
 *   redis://[user:password@]host[:port][/db]       plain TCP
 *   rediss://[user:password@]host[:port][/db]      TLS (the system CAs, plus NODE_EXTRA_CA_CERTS)
 *   redis+sentinel://[user:password@]host:port[,host:port...]/<master name>[/db]
 * Sentinel: ioredis asks the sentinels where the master is, and asks again when
 * the connection drops, so a failover is followed without a restart.
 * Pure: no connection is made here.
 */
import type { RedisOptions } from 'ioredis'

export const REDIS_URL_HELP = 'a redis://, rediss:// or redis+sentinel://host:port[,host:port]/<master>[/db] URL, or null for in-memory'

export interface RedisTarget {
  readonly options: RedisOptions
  /** For logs: the URL without credentials. */
  readonly safe: string
}

export class RedisUrlError extends Error {
  override name = 'RedisUrlError'
}

const SCHEMES = ['redis:', 'rediss:', 'redis+sentinel:'] as const

function hostPort (text: string, defaultPort: number): { host: string, port: number } {
  const bracket = /^\[([^\]]+)\](?::(\d+))?$/.exec(text)
  const plain = /^([^:[\]]+)(?::(\d+))?$/.exec(text)
  const match = bracket ?? plain
  if (match === null || match[1] === undefined || match[1].length === 0) throw new RedisUrlError(`bad host "${text}"`)
  const port = match[2] === undefined ? defaultPort : Number(match[2])
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new RedisUrlError(`bad port in "${text}"`)
  return { host: match[1], port }
}

function database (text: string | undefined): number | undefined {
  if (text === undefined || text === '') return undefined
  if (!/^\d+$/.test(text)) throw new RedisUrlError(`bad database number "${text}"`)
  return Number(text)
}

/** Parse a persistence.redis URL; throws RedisUrlError with what is wrong. */
export function parseRedisUrl (url: string): RedisTarget {
  const scheme = SCHEMES.find((s) => url.startsWith(s + '//'))
  if (scheme === undefined) throw new RedisUrlError(REDIS_URL_HELP)
  let rest = url.slice(scheme.length + 2)
  let username: string | undefined
  let password: string | undefined
  const at = rest.lastIndexOf('@')
  if (at >= 0) {
    const credentials = rest.slice(0, at)
    rest = rest.slice(at + 1)
    const colon = credentials.indexOf(':')
    const user = decodeURIComponent(colon >= 0 ? credentials.slice(0, colon) : credentials)
    username = user.length > 0 ? user : undefined
    password = colon >= 0 ? decodeURIComponent(credentials.slice(colon + 1)) : undefined
  }
  const slash = rest.indexOf('/')
  const authority = slash >= 0 ? rest.slice(0, slash) : rest
  const path = slash >= 0 ? rest.slice(slash + 1).split('/') : []
  const credentials = `${username !== undefined || password !== undefined ? '***@' : ''}`

  if (scheme === 'redis+sentinel:') {
    const sentinels = authority.split(',').map((part) => hostPort(part, 26379))
    const name = path[0]
    if (name === undefined || name.length === 0) throw new RedisUrlError('a redis+sentinel:// URL names the master: redis+sentinel://host:port,host:port/<master>[/db]')
    if (path.length > 2) throw new RedisUrlError(`unexpected path "/${path.join('/')}" after the master name and db`)
    const db = database(path[1])
    return {
      options: {
        sentinels,
        name,
        ...(db !== undefined ? { db } : {}),
        // The same credentials for the master and the sentinels: the common set-up.
        ...(username !== undefined ? { username } : {}),
        ...(password !== undefined ? { password, sentinelPassword: password } : {})
      },
      safe: `redis+sentinel://${credentials}${authority}/${path.join('/')}`
    }
  }

  const { host, port } = hostPort(authority, 6379)
  if (path.length > 1) throw new RedisUrlError(`unexpected path "/${path.join('/')}" (only a database number may follow the host)`)
  const db = database(path[0])
  return {
    options: {
      host,
      port,
      ...(db !== undefined ? { db } : {}),
      ...(username !== undefined ? { username } : {}),
      ...(password !== undefined ? { password } : {}),
      // The certificate is checked against `host` (Node's default), with the system CAs
      // and NODE_EXTRA_CA_CERTS for a private CA.
      ...(scheme === 'rediss:' ? { tls: {} } : {})
    },
    safe: `${scheme}//${credentials}${authority}${path.length > 0 ? '/' + path.join('/') : ''}`
  }
}
