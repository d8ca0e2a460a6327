/**
 * TCP, TLS and WebSocket listeners, each handing connections to Aedes.
 * Port 0 picks a free port; `ports` reports the real ones.
 */
import { readFileSync } from 'node:fs'
import { createServer as createHttpServer, type IncomingMessage, type Server as HttpServer } from 'node:http'
import { createServer as createHttpsServer } from 'node:https'
import { createServer as createTcpServer, type AddressInfo, type Server, type Socket } from 'node:net'
import { createServer as createTlsServer } from 'node:tls'
import type { Duplex } from 'node:stream'
import type { Aedes } from 'aedes'
import { WebSocketServer, createWebSocketStream } from 'ws'
import type { VigilConfig } from '../config/schema.js'
import { coalesceWrites } from './aedes/index.js'
import { errorMessage, VigilError } from './errors.js'
import type { Logger } from './logger.js'

export interface ListenerPorts { mqtt: number, ws: number | null, tls: number | null }

export interface Listeners {
  readonly ports: ListenerPorts
  /** Stop accepting new connections; open ones stay until the broker closes them. */
  stopAccepting(): void
  close(): Promise<void>
}

export function readPem (value: string, what: string, section = 'mqtt.tls'): Buffer {
  if (value.trimStart().startsWith('-----BEGIN')) return Buffer.from(value)
  try {
    return readFileSync(value)
  } catch (err) {
    throw new VigilError('VIGIL_E_TLS', `${section}.${what}: cannot read ${value}: ${errorMessage(err)}`, err)
  }
}

/**
 * The accept queue (capped by the kernel's somaxconn). Node's default, 511, overflows
 * when a fleet reconnects at once: the dropped SYNs come back after TCP's 1 s and 3 s
 * retransmits, which set the storm's CONNACK p99 (bench/RESULTS.md, reconnect storm).
 */
const LISTEN_BACKLOG = 4096

function listen (server: Server | HttpServer, port: number, host: string, name: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const onError = (err: Error): void => {
      reject(new VigilError('VIGIL_E_LISTEN', `${name} listener on ${host}:${port}: ${err.message}`, err))
    }
    server.once('error', onError)
    server.listen({ port, host, backlog: LISTEN_BACKLOG }, () => {
      server.removeListener('error', onError)
      resolve((server.address() as AddressInfo).port)
    })
  })
}

function ignoreError (): void {}

export async function startListeners (broker: Aedes, mqtt: VigilConfig['mqtt'], log: Logger): Promise<Listeners> {
  const sockets = new Set<Socket | Duplex>()
  // Shared listeners, not closures per connection (issue 15: bytes per idle connection).
  function forget (this: Socket | Duplex): void { sockets.delete(this) }
  const handle = (conn: Socket | Duplex, req?: IncomingMessage): void => {
    sockets.add(conn)
    // 'close' comes once: `on` spares the once() wrapper a connection would carry.
    conn.on('close', forget)
    // A socket error before Aedes attaches its own listener must not crash the process.
    conn.on('error', ignoreError)
    // One writev per connection per event-loop turn, TCP_NODELAY kept (broker/aedes/write-coalescing.ts).
    if (mqtt.coalesceWrites) coalesceWrites(conn)
    // mqtt.maxPacketSize is guarded on each client's parser (installed once: broker/aedes/packet-size.ts).
    broker.handle(conn, req)
    // Aedes' client listens for 'error' now; a third listener would grow the socket's listener array.
    conn.removeListener('error', ignoreError)
  }

  const servers: Array<Server | HttpServer> = []
  let wss: WebSocketServer | null = null
  try {
    // TCP_NODELAY: a status, a will or a command is one small write that must go out now.
    // With Nagle on, a small write waits for the ACK of the previous one, and the client's
    // delayed ACK makes that up to 40 ms (seen in test/integration/wills-cluster.test.ts: a
    // will reached a subscriber 28 ms after it was published). The price is throughput under
    // flat-out QoS 0 fan-in on loopback: 0.74x of bare Aedes instead of ~0.88x (measured by hand
    // with this option removed; bench/RESULTS.md, fanin).
    const tcp = createTcpServer({ noDelay: true }, (socket) => handle(socket))
    servers.push(tcp)
    const mqttPort = await listen(tcp, mqtt.port, mqtt.host, 'mqtt')

    let tlsPort: number | null = null
    if (mqtt.tls !== null) {
      const tls = createTlsServer({
        cert: readPem(mqtt.tls.cert, 'cert'),
        key: readPem(mqtt.tls.key, 'key'),
        ...(mqtt.tls.ca !== undefined ? { ca: readPem(mqtt.tls.ca, 'ca') } : {}),
        requestCert: mqtt.tls.requestCert,
        rejectUnauthorized: mqtt.tls.requestCert
      }, (socket) => {
        socket.setNoDelay(true) // as the TCP listener
        handle(socket)
      })
      tls.on('tlsClientError', (err) => log.debug({ err: errorMessage(err) }, 'tls handshake failed'))
      servers.push(tls)
      tlsPort = await listen(tls, mqtt.tls.port, mqtt.host, 'mqtt-tls')
    }

    let wsPort: number | null = null
    if (mqtt.ws !== null) {
      const upgradeOnly = (_req: IncomingMessage, res: { writeHead(code: number): { end(text: string): void } }): void => {
        res.writeHead(426).end('MQTT over WebSocket only')
      }
      // mqtt.ws.tls: the same WebSocket server behind TLS (wss://).
      const wsTls = mqtt.ws.tls ?? null
      const http: HttpServer = wsTls !== null
        ? createHttpsServer({ cert: readPem(wsTls.cert, 'cert', 'mqtt.ws.tls'), key: readPem(wsTls.key, 'key', 'mqtt.ws.tls') }, upgradeOnly)
        : createHttpServer(upgradeOnly)
      if (wsTls !== null) http.on('tlsClientError', (err: Error) => log.debug({ err: errorMessage(err) }, 'wss handshake failed'))
      // A frame can never usefully exceed the MQTT packet limit (plus framing slack).
      wss = new WebSocketServer({ server: http, path: mqtt.ws.path, maxPayload: mqtt.maxPacketSize + 16 })
      wss.on('connection', (ws, req) => {
        const stream = createWebSocketStream(ws)
        handle(stream, req)
      })
      wss.on('error', (err) => log.warn({ err: errorMessage(err) }, 'websocket server error'))
      servers.push(http)
      wsPort = await listen(http, mqtt.ws.port, mqtt.host, 'mqtt-ws')
    }

    const ports = { mqtt: mqttPort, ws: wsPort, tls: tlsPort }
    return {
      ports,
      stopAccepting () {
        for (const server of servers) server.close()
      },
      async close () {
        for (const server of servers) server.close()
        wss?.close()
        for (const socket of sockets) socket.destroy()
        await Promise.all(servers.map((s) => new Promise<void>((resolve) => {
          if (!s.listening) return resolve()
          s.close(() => resolve())
        })))
      }
    }
  } catch (err) {
    for (const server of servers) server.close()
    wss?.close()
    throw err
  }
}
