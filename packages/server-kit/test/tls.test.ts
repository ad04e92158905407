import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { credentials } from '@grpc/grpc-js';
import { createUserServiceClient, userService } from '@im-repo/proto/user';
import { decodeGrpcError, GrpcStatus } from '@im-repo/testing';
import { expect } from 'chai';
import { clientCredentials, createGrpcServer, createLogger, type TlsFiles } from '../src';

/** A CA, a server and a client certificate signed by it, and a client from another CA. */
function makePki(dir: string) {
  const ssl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
  const ca = (name: string) => {
    ssl(
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-days',
      '1',
      '-subj',
      `/CN=${name}`,
      '-keyout',
      `${name}.key`,
      '-out',
      `${name}.crt`,
    );
  };
  const leaf = (name: string, caName: string, san: string) => {
    writeFileSync(join(dir, `${name}.ext`), `subjectAltName=${san}\n`);
    ssl(
      'req',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-subj',
      `/CN=${name}`,
      '-keyout',
      `${name}.key`,
      '-out',
      `${name}.csr`,
    );
    ssl(
      'x509',
      '-req',
      '-in',
      `${name}.csr`,
      '-CA',
      `${caName}.crt`,
      '-CAkey',
      `${caName}.key`,
      '-CAcreateserial',
      '-days',
      '1',
      '-extfile',
      `${name}.ext`,
      '-out',
      `${name}.crt`,
    );
  };
  ca('ca');
  ca('rogue-ca');
  leaf('server', 'ca', 'DNS:localhost,IP:127.0.0.1');
  leaf('client', 'ca', 'DNS:user-service');
  leaf('rogue', 'rogue-ca', 'DNS:intruder');
  const f = (n: string) => join(dir, n);
  return {
    server: { cert: f('server.crt'), key: f('server.key') },
    client: { cert: f('client.crt'), key: f('client.key') },
    rogue: { cert: f('rogue.crt'), key: f('rogue.key') },
    ca: f('ca.crt'),
  };
}

const handlers = Object.fromEntries(
  Object.keys(userService.definition).map((name) => [
    name,
    async () => ({ user: { userId: 'secure', username: 'tls', nickname: '', avatarUrl: '' } }),
  ]),
) as never;

async function outcome(call: Promise<unknown>): Promise<number> {
  try {
    await call;
    return GrpcStatus.OK;
  } catch (err) {
    return decodeGrpcError(err).code;
  }
}

describe('TLS and mutual TLS', function () {
  this.timeout(30_000);
  let dir: string;
  let pki: ReturnType<typeof makePki>;

  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'im-tls-'));
    pki = makePki(dir);
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  async function serve(tls: TlsFiles) {
    const server = createGrpcServer({
      service: userService,
      logger: createLogger('tls', 'error'),
      handlers,
      tls,
    });
    const port = await server.listen(0, '127.0.0.1');
    return { server, address: `localhost:${port}` };
  }

  const call = (address: string, creds: ReturnType<typeof credentials.createInsecure>) => {
    const client = createUserServiceClient(address, {
      credentials: creds,
      maxAttempts: 1,
      timeoutMs: 3000,
    });
    return outcome(client.getUser({ userId: 'x' }).finally(() => client.close()));
  };

  it('serves TLS when cert and key are set: a client trusting the CA gets through, plaintext does not', async () => {
    const { server, address } = await serve({ ...pki.server, ca: '' });
    try {
      expect(await call(address, clientCredentials({ cert: '', key: '', ca: '' }))).to.equal(
        GrpcStatus.UNAVAILABLE,
      );
      expect(await call(address, credentials.createSsl(readFileSync(pki.ca)))).to.equal(
        GrpcStatus.OK,
      );
    } finally {
      await server.shutdown();
    }
  });

  it('with a CA requires client certificates signed by it (mutual TLS)', async () => {
    const { server, address } = await serve({ ...pki.server, ca: pki.ca });
    const caPem = readFileSync(pki.ca);
    try {
      // No client certificate: refused.
      expect(await call(address, credentials.createSsl(caPem))).to.equal(GrpcStatus.UNAVAILABLE);
      // A certificate from another CA: refused.
      expect(
        await call(
          address,
          credentials.createSsl(caPem, readFileSync(pki.rogue.key), readFileSync(pki.rogue.cert)),
        ),
      ).to.equal(GrpcStatus.UNAVAILABLE);
      // Plaintext: refused.
      expect(await call(address, credentials.createInsecure())).to.equal(GrpcStatus.UNAVAILABLE);
      // A peer configured the way services are (GRPC_TLS_CERT/KEY/CA): accepted.
      expect(await call(address, clientCredentials({ ...pki.client, ca: pki.ca }))).to.equal(
        GrpcStatus.OK,
      );
    } finally {
      await server.shutdown();
    }
  });
});
