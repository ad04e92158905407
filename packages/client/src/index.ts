export { createClient, DEFAULT_TIMEOUT_MS } from './client';
export type { CallOverrides, ClientOptions, PromiseClient } from './client';
export type { ServiceInfo } from './service-info';
export { decodeError, decodeErrorInfo, errorReason } from './errors';
export type { DecodedError } from './errors';
export { userService, createUserServiceClient } from './user';
export type { UserServicePromiseClient } from './user';
export { groupService, createGroupServiceClient } from './group';
export type { GroupServicePromiseClient } from './group';
export { messageService, createMessageServiceClient } from './message';
export type { MessageServicePromiseClient } from './message';
export { conversationService, createConversationServiceClient } from './conversation';
export type { ConversationServicePromiseClient } from './conversation';
export { presenceService, createPresenceServiceClient } from './presence';
export type { PresenceServicePromiseClient } from './presence';
export {
  groupConversationId,
  ID_PATTERN,
  parseConversationId,
  singleConversationId,
} from './conversation-id';
export type { ParsedConversationId } from './conversation-id';
export { Status } from './gen/google/rpc/status';
export { ErrorInfo } from './gen/google/rpc/error_details';
