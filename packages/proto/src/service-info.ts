import { join } from 'node:path';

/** Everything a server or client needs to know about one service of the contract. */
export interface ServiceInfo<D extends object = object> {
  /** Full service name, e.g. im.user.v1.UserService. */
  name: string;
  /** Protobuf package, used as the ErrorInfo domain. */
  package: string;
  /** Path of its .proto file under protoDir. */
  protoFile: string;
  /** The ts-proto grpc-js service definition. */
  definition: D;
}

/** Where the shipped copies of the contract's .proto files are (for reflection). */
export const protoDir = join(__dirname, '..', 'protos');
