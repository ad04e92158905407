export { Status } from './gen/google/rpc/status';
export { ErrorInfo } from './gen/google/rpc/error_details';
export { Any } from './gen/google/protobuf/any';
