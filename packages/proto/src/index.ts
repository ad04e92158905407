export { createClient, DEFAULT_TIMEOUT_MS } from './client';
export type { CallOverrides, ClientOptions, PromiseClient, ServiceInfo } from './client';
export { protoDir } from './proto-dir';
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
} from '@im-repo/client';
export type { ParsedConversationId } from '@im-repo/client';
