import { readFileSync } from 'node:fs';
import { credentials } from '@grpc/grpc-js';
import { createUserServiceClient, userService } from '@im-repo/proto/user';
import { createPki, decodeGrpcError, GrpcStatus, type Pki } from '@im-repo/testing';
import { expect } from 'chai';
import { clientCredentials, createGrpcServer, createLogger, type TlsFiles } from '../src';

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

type TlsPair = { cert: string; key: string };

describe('TLS and mutual TLS', function () {
  this.timeout(30_000);
  // A CA with a server and a client certificate, and a client of another CA.
  let ours: Pki;
  let theirs: Pki;
  let pki: { server: TlsPair; client: TlsPair; rogue: TlsPair; ca: string };

  before(() => {
    ours = createPki([
      { name: 'server', san: 'DNS:localhost,IP:127.0.0.1' },
      { name: 'client', san: 'DNS:user-service' },
    ]);
    theirs = createPki([{ name: 'rogue', san: 'DNS:intruder' }]);
    pki = {
      server: ours.cert('server'),
      client: ours.cert('client'),
      rogue: theirs.cert('rogue'),
      ca: ours.ca,
    };
  });
  after(() => {
    ours.remove();
    theirs.remove();
  });

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
