import { credentials, loadPackageDefinition, type ServiceError } from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import { protoPath } from 'grpc-health-check';

type Status = 'UNKNOWN' | 'SERVING' | 'NOT_SERVING' | 'SERVICE_UNKNOWN';
interface HealthStub {
  Check(
    req: { service: string },
    opts: { deadline: number },
    cb: (err: ServiceError | null, res: { status: Status }) => void,
  ): void;
  close(): void;
}

let Health: (new (address: string, creds: unknown) => HealthStub) | undefined;

/** grpc.health.v1.Health/Check over a real call (service "" by default). */
export function healthCheck(address: string, service = '', timeoutMs = 2000): Promise<Status> {
  if (!Health) {
    const pkg = loadPackageDefinition(loadSync(protoPath, { enums: String })) as unknown as {
      grpc: { health: { v1: { Health: typeof Health } } };
    };
    Health = pkg.grpc.health.v1.Health;
  }
  const client = new Health!(address, credentials.createInsecure());
  return new Promise<Status>((resolve, reject) =>
    client.Check({ service }, { deadline: Date.now() + timeoutMs }, (err, res) => {
      client.close();
      if (err) reject(err);
      else resolve(res.status);
    }),
  ).finally(() => client.close());
}
