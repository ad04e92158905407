/** The plain records passed between layers; numbers match the proto enums of the contract. */

export const ConversationKind = { SINGLE: 1, GROUP: 2 } as const;
export type ConversationKind = (typeof ConversationKind)[keyof typeof ConversationKind];

// DELETED: erased with its sender's account; EXPIRED: past retention (content erased, seq and
// idempotency key kept). The order matters to the head cache: a status only ever grows.
export const MessageStatus = { NORMAL: 1, RECALLED: 2, DELETED: 3, EXPIRED: 4 } as const;
export type MessageStatus = (typeof MessageStatus)[keyof typeof MessageStatus];

export const GroupRole = { MEMBER: 1, ADMIN: 2, OWNER: 3 } as const;
export type GroupRole = (typeof GroupRole)[keyof typeof GroupRole];

export interface MessageRecord {
  serverMsgId: string;
  clientMsgId: string;
  conversationId: string;
  conversationType: ConversationKind;
  seq: number;
  senderId: string;
  recipientId: string;
  contentType: number;
  /** Empty once recalled, deleted or expired. */
  content: Buffer;
  status: MessageStatus;
  sentAt: Date;
}

/** A validated send, its conversation id already derived. */
export interface SendInput {
  clientMsgId: string;
  senderId: string;
  conversationType: ConversationKind;
  recipientId: string;
  conversationId: string;
  contentType: number;
  content: Buffer;
}

export interface SendResult {
  message: MessageRecord;
  duplicate: boolean;
}

export interface ConversationHead {
  conversationId: string;
  maxSeq: number;
  /** Its content is a preview (preview.ts). */
  lastMessage: MessageRecord;
  /** Whether lastMessage.content was cut to the preview. */
  lastMessageTruncated: boolean;
}

/** A conversation as of a seq (a former group member's frozen view). */
export interface HeadAt {
  conversationId: string;
  seq: number;
}

export interface PullRange {
  conversationId: string;
  /** >= 1 */
  beginSeq: number;
  /** 0 = up to max_seq */
  endSeq: number;
  limit: number;
  descending: boolean;
}

/** The peers the domain asks; adapters turn their gRPC answers into these. */
export interface UserDirectory {
  /** Throws NOT_FOUND USER_NOT_FOUND naming the first unknown id. */
  assertExist(userIds: string[]): Promise<void>;
  /**
   * Throws NOT_FOUND USER_NOT_FOUND naming the first deleted id. Asked of the shared store on
   * every send, so a deletion reaches every replica at once.
   */
  assertNotDeleted(userIds: string[]): Promise<void>;
}

export interface GroupAccess {
  /** Throws the group service's answer when the user may not send now. */
  checkSend(groupId: string, userId: string): Promise<void>;
  /** The user's role, null when not a member; throws NOT_FOUND GROUP_NOT_FOUND. */
  memberRole(groupId: string, userId: string): Promise<GroupRole | null>;
}

export const sendKey = (senderId: string, clientMsgId: string) => `${senderId}\u0000${clientMsgId}`;
