export { createClient, DEFAULT_TIMEOUT_MS } from './client';
export type { CallOverrides, ClientOptions, PromiseClient } from './client';
export { protoDir } from './service-info';
export type { ServiceInfo } from './service-info';
export { userService } from './user';
export { groupService } from './group';
export { messageService } from './message';
export { conversationService } from './conversation';
export { presenceService } from './presence';
export {
  groupConversationId,
  ID_PATTERN,
  parseConversationId,
  singleConversationId,
} from './conversation-id';
export type { ParsedConversationId } from './conversation-id';
