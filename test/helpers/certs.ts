/**
 * Test TLS material generated at test time with openssl (no committed keys).
 */
import { execFileSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

import type { Teardown } from '../support/teardown.js'

export interface TestCerts { cert: string, key: string, certPem: Buffer }

export function makeCerts (t: Teardown): TestCerts {
  const dir = mkdtempSync(join(tmpdir(), 'vigil-certs-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const key = join(dir, 'key.pem')
  const cert = join(dir, 'cert.pem')
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
    '-keyout', key, '-out', cert, '-days', '1', '-subj', '/CN=localhost',
    '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1'], { stdio: 'ignore' })
  return { cert, key, certPem: readFileSync(cert) }
}

export interface TestPki { dir: string, ca: string, serverCert: string, serverKey: string, client(cn: string): { cert: string, key: string } }

/** A private CA, a server certificate for 127.0.0.1 and client certificates on demand, made with openssl. */
export function makePki (t: Teardown, name = 'ca'): TestPki {
  const dir = mkdtempSync(join(tmpdir(), 'vigil-pki-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const ossl = (...args: string[]): void => { execFileSync('openssl', args, { stdio: 'ignore', cwd: dir }) }
  const ca = join(dir, `${name}.pem`)
  const caKey = join(dir, `${name}-key.pem`)
  ossl('req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', caKey, '-out', ca,
    '-days', '1', '-subj', `/CN=Vigil test ${name}`)
  const issue = (cn: string, file: string, ext: string): { cert: string, key: string } => {
    const key = join(dir, `${file}-key.pem`)
    const csr = join(dir, `${file}.csr`)
    const cert = join(dir, `${file}.pem`)
    const extFile = join(dir, `${file}.ext`)
    writeFileSync(extFile, ext)
    ossl('req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', key, '-out', csr, '-subj', `/CN=${cn}`)
    ossl('x509', '-req', '-in', csr, '-CA', ca, '-CAkey', caKey, '-CAcreateserial', '-out', cert, '-days', '1', '-extfile', extFile)
    return { cert, key }
  }
  const server = issue('localhost', 'server', 'subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n')
  return { dir, ca, serverCert: server.cert, serverKey: server.key, client: (cn) => issue(cn, `client-${cn}`, 'extendedKeyUsage=clientAuth\n') }
}
