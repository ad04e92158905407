import { join } from 'node:path';

/** Where the shipped copies of the contract's .proto files are (for reflection). */
export const protoDir = join(__dirname, '..', 'protos');
