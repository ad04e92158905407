import { FailedPreconditionError, NotFoundError, PermissionDeniedError } from '@im-repo/errors';
import type { ParsedConversationId } from '@im-repo/proto';
import type { HeadCache } from './head-cache';
import type { MessageRepository } from './message.repository';
import {
  ConversationKind,
  GroupRole,
  MessageStatus,
  type ConversationHead,
  type GroupAccess,
  type HeadAt,
  type MessageRecord,
  type PullRange,
  type SendInput,
  type SendResult,
  type UserDirectory,
} from './message.types';
import type { SendBatcher } from './send-batcher';

/*
 * gRPC's default receive limit is 4 MiB, which no caller should have to raise (API.md v1.1).
 * A Message's fields besides content take under 700 bytes (ids at their longest, a 256-byte
 * client_msg_id, framing); 1 KiB each and 1 KiB for the rest of the answer leave a margin.
 */
const PULL_SIZE = { maxBytes: 4 * 1024 * 1024 - 1024, perMessage: 1024 };

export interface MessageDomainOptions {
  recallWindowSeconds: number;
  /** Counts sends answered with an earlier message outside the batcher. */
  onDuplicate: () => void;
}

/** The rules of messages: who may send, read and recall; sends go through the group commit. */
export class MessageDomain {
  constructor(
    private readonly repo: MessageRepository,
    private readonly heads: HeadCache,
    private readonly batcher: SendBatcher,
    private readonly users: UserDirectory,
    private readonly groups: GroupAccess,
    private readonly options: MessageDomainOptions,
  ) {}

  async send(input: SendInput): Promise<SendResult> {
    try {
      if (input.conversationType === ConversationKind.SINGLE) {
        await this.users.assertExist([input.senderId, input.recipientId]);
      } else {
        await this.groups.checkSend(input.recipientId, input.senderId);
      }
    } catch (err) {
      // A retry of a message accepted before a mute, removal or outage is still the original.
      const original = await this.repo
        .findBySendKey(input.senderId, input.clientMsgId)
        .catch(() => null);
      if (!original) throw err;
      // Its head may never have moved (a crash right after its commit); forward-only, so safe.
      await this.heads.advance([original]);
      this.options.onDuplicate();
      return { message: original, duplicate: true };
    }
    return this.batcher.submit(input);
  }

  /** Messages of a range, and a max_seq up to which every message is readable. */
  async pull(
    userId: string,
    conversation: ParsedConversationId,
    range: PullRange,
  ): Promise<{ messages: MessageRecord[]; maxSeq: number }> {
    await this.assertCanRead(userId, conversation);
    // max_seq first, through the head cache like every other read, so a caller polling several
    // rpcs never sees it go back; the cache never runs ahead of MySQL, and seqs commit in order,
    // so every message up to it is already readable.
    const maxSeq =
      (await this.heads.maxSeqs([range.conversationId])).get(range.conversationId) ?? 0;
    const endSeq = range.endSeq === 0 ? maxSeq : Math.min(range.endSeq, maxSeq);
    if (range.beginSeq > endSeq) return { messages: [], maxSeq };
    return { messages: await this.repo.pull({ ...range, endSeq }, PULL_SIZE), maxSeq };
  }

  maxSeqs(conversationIds: string[]): Promise<Map<string, number>> {
    return this.heads.maxSeqs(conversationIds);
  }

  async conversationHeads(
    conversationIds: string[],
    maxSeqOnlyIds: string[],
  ): Promise<{ heads: ConversationHead[]; maxSeqs: Map<string, number> }> {
    const [heads, maxSeqs] = await Promise.all([
      this.heads.heads(conversationIds),
      this.heads.maxSeqs(maxSeqOnlyIds),
    ]);
    return { heads, maxSeqs };
  }

  /**
   * Conversations as of a seq, from MySQL (former members' rows are few). A seq above the
   * current max_seq is answered at the current one, so this never shows what is not readable.
   */
  async conversationHeadsAt(at: HeadAt[]): Promise<ConversationHead[]> {
    const asked = at.filter((a) => a.seq > 0);
    const current = await this.heads.maxSeqs(asked.map((a) => a.conversationId));
    const clamped = asked.flatMap((a) => {
      const seq = Math.min(a.seq, current.get(a.conversationId) ?? 0);
      return seq > 0 ? [{ conversationId: a.conversationId, seq }] : [];
    });
    return this.repo.headsAt(clamped);
  }

  /**
   * The sender within the window, or a group's owner or admin at any time. Checks run in the
   * contract's order: the message exists, then the window (state), then the role (permission).
   */
  async recall(
    operatorId: string,
    conversation: ParsedConversationId,
    seq: number,
  ): Promise<MessageRecord> {
    const found = await this.repo.findWithClock(conversation.conversationId, seq);
    if (!found) {
      throw new NotFoundError('MESSAGE_NOT_FOUND', `message ${seq} not found`, {
        conversation_id: conversation.conversationId,
        seq: String(seq),
      });
    }
    const { message, now } = found;
    const isSender = message.senderId === operatorId;
    if (isSender && message.status === MessageStatus.RECALLED) return message;
    const age = now.getTime() - message.sentAt.getTime();
    if (isSender && age <= this.options.recallWindowSeconds * 1000) return this.erase(message);

    if (conversation.type === 'group') {
      const role = await this.groups.memberRole(conversation.groupId, operatorId);
      if (role === GroupRole.OWNER || role === GroupRole.ADMIN) {
        return message.status === MessageStatus.RECALLED ? message : this.erase(message);
      }
      if (isSender) throw windowPassed();
      if (role === null) {
        throw new PermissionDeniedError('NOT_GROUP_MEMBER', 'the operator is not a group member');
      }
      throw new PermissionDeniedError(
        'INSUFFICIENT_ROLE',
        "only the sender, the group's owner or an admin may recall",
      );
    }
    if (isSender) throw windowPassed();
    throw new PermissionDeniedError('NOT_MESSAGE_SENDER', 'only the sender may recall');
  }

  private async erase(message: MessageRecord): Promise<MessageRecord> {
    await this.repo.recall(message.conversationId, message.seq);
    const recalled = (await this.repo.findMessage(message.conversationId, message.seq))!;
    // Only changes the cache when this message is (or is behind) the cached head.
    await this.heads.advance([recalled]);
    return recalled;
  }

  private async assertCanRead(userId: string, conversation: ParsedConversationId): Promise<void> {
    if (conversation.type === 'single') {
      if (!conversation.userIds.includes(userId)) {
        throw new PermissionDeniedError(
          'NOT_CONVERSATION_PARTICIPANT',
          'the user is not a participant of this conversation',
        );
      }
      return;
    }
    const role = await this.groups.memberRole(conversation.groupId, userId);
    if (role === null) {
      throw new PermissionDeniedError('NOT_GROUP_MEMBER', 'the user is not a group member');
    }
  }
}

const windowPassed = () =>
  new FailedPreconditionError('RECALL_WINDOW_PASSED', 'the recall window has passed');
