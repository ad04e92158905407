/** Everything a server or client needs to know about one service of the contract. */
export interface ServiceInfo<D extends object = object> {
  /** Full service name, e.g. im.user.v1.UserService. */
  name: string;
  /** Protobuf package, used as the ErrorInfo domain. */
  package: string;
  /** Path of its .proto file in the contract, e.g. im/user/v1/user.proto. */
  protoFile: string;
  /**
   * Methods (proto names, e.g. CreateGroup) that a repeat would not answer like the first call
   * (a second CreateGroup makes a second group, a second LeaveGroup is NOT_GROUP_MEMBER): never
   * retried. Every other rpc is idempotent (SendMessage through client_msg_id).
   */
  nonIdempotent?: string[];
  /** The package's ts-proto message types by name (<Rpc>Request among them), if at hand. */
  messages?: Record<string, unknown>;
  /** The ts-proto grpc-js service definition. */
  definition: D;
}
