import { FailedPreconditionError, NotFoundError, PermissionDeniedError } from '@im-repo/errors';
import type { Enqueued, Outbox } from '@im-repo/outbox';
import type { ParsedConversationId } from '@im-repo/proto';
import type { Logger } from '@im-repo/server-kit';
import type { HeadCache } from './head-cache';
import type { MessageMetrics } from './message.metrics';
import { assertStorable, type MessageRepository } from './message.repository';
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
import { clearedRow } from './cleared-outbox';
import type { HistoryRepository } from './history.repository';
import { clearedEvent, createdEvents, recalledEvent } from './message.events';
import { recordRows } from './record-outbox';
import type { RetentionJob } from './retention.job';
import { SendBatcher, type BatcherOptions } from './send-batcher';

/*
 * gRPC's default receive limit is 4 MiB, which no caller should have to raise (API.md v1.1).
 * A Message's fields besides content take under 700 bytes (ids at their longest, a 256-byte
 * client_msg_id, framing); 1 KiB each and 1 KiB for the rest of the answer leave a margin.
 */
const PULL_SIZE = { maxBytes: 4 * 1024 * 1024 - 1024, perMessage: 1024 };

export interface MessageDomainOptions {
  recallWindowSeconds: number;
  /** The group commit's limits. */
  batch: BatcherOptions;
  /** Server message id generator. */
  newId: () => string;
  metrics: MessageMetrics;
  logger: Logger;
  /** Change events on: each commit also writes its events' outbox rows. */
  events?: boolean;
  /** Floors (ClearHistory) and the expiry watermark: what hides low seqs from reads. */
  history: HistoryRepository;
  /** Retention: which messages are past the window. */
  retention: RetentionJob;
}

/** The rules of messages: who may send, read and recall; sends go through the group commit. */
export class MessageDomain {
  /** The group commit every send goes through. */
  readonly batcher: SendBatcher;

  constructor(
    private readonly repo: MessageRepository,
    private readonly heads: HeadCache,
    /** Owns the message_outbox table: RecordMessages for every send. */
    private readonly outbox: Outbox,
    private readonly users: UserDirectory,
    private readonly groups: GroupAccess,
    private readonly options: MessageDomainOptions,
  ) {
    this.batcher = new SendBatcher(
      {
        // The send's RecordMessages record is queued in its own transaction, so neither an
        // outage of the conversation service nor a crash after the commit loses it.
        commit: (inputs, { newId }) =>
          this.repo.commitBatch(inputs, {
            newId,
            enqueue: (t, inserted) =>
              this.outbox.enqueue(t, [
                ...recordRows(inserted),
                ...(options.events ? createdEvents(inserted) : []),
              ]),
          }),
        newId: options.newId,
        assertStorable,
        afterCommit: (inserted, enqueued, duplicates) =>
          this.afterCommit(inserted, enqueued, duplicates),
        metrics: options.metrics,
        logger: options.logger,
      },
      options.batch,
    );
  }

  /**
   * After a batch committed, before its senders hear back: the heads move, and the records go
   * to the conversation service (so a sender's own conversation list is current when
   * SendMessage returns). Independent of each other, so side by side; neither throws.
   */
  private async afterCommit(
    inserted: MessageRecord[],
    enqueued: Enqueued[],
    duplicates: MessageRecord[],
  ): Promise<void> {
    // Newest message per conversation: the only one that can move a head. A duplicate's head
    // may never have moved (a crash between its commit and this step), so it counts too.
    const newest = new Map<string, MessageRecord>();
    for (const msg of [...inserted, ...duplicates]) {
      const seen = newest.get(msg.conversationId);
      if (!seen || seen.seq < msg.seq) newest.set(msg.conversationId, msg);
    }
    await Promise.all([this.heads.advance([...newest.values()]), this.outbox.deliver(...enqueued)]);
  }

  /** Commits what is queued (shutdown). */
  close(): Promise<void> {
    return this.batcher.close();
  }

  async send(input: SendInput): Promise<SendResult> {
    // Before the duplicate lookup: a deleted user's repeat is refused too (deletion wins over
    // idempotency).
    const single = input.conversationType === ConversationKind.SINGLE;
    await this.users.assertNotDeleted(
      single ? [input.senderId, input.recipientId] : [input.senderId],
    );
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
      this.options.metrics.duplicates.inc();
      return { message: original, duplicate: true };
    }
    return this.batcher.submit(input);
  }

  /**
   * Messages of a range that this user can still read, a max_seq up to which every unexpired
   * message is readable, and the lowest seq they can read (max_seq + 1 when none).
   */
  async pull(
    userId: string,
    conversation: ParsedConversationId,
    range: PullRange,
  ): Promise<{ messages: MessageRecord[]; maxSeq: number; minSeq: number }> {
    await this.assertCanRead(userId, conversation);
    // max_seq first, through the head cache like every other read, so a caller polling several
    // rpcs never sees it go back; the cache never runs ahead of MySQL, and seqs commit in order,
    // so every unexpired message up to it is already readable.
    const maxSeq =
      (await this.heads.maxSeqs([range.conversationId])).get(range.conversationId) ?? 0;
    const endSeq = range.endSeq === 0 ? maxSeq : Math.min(range.endSeq, maxSeq);
    // The floor and the expiry watermark come from MySQL (with the messages, in one snapshot),
    // so a ClearHistory holds here at once, whatever the conversation service's state.
    const { messages, hiddenUpTo } =
      range.beginSeq > endSeq
        ? { messages: [], hiddenUpTo: null }
        : await this.repo.pull({ ...range, endSeq }, userId, PULL_SIZE);
    const hidden =
      hiddenUpTo ?? (await this.options.history.hiddenUpTo(range.conversationId, userId));
    return { messages, maxSeq, minSeq: Math.min(hidden, maxSeq) + 1 };
  }

  /**
   * Raises the user's floor to the conversation's max_seq (as readers see it). Only a call that
   * moved it writes the conversation service's record and conversation.cleared, in the floor's
   * transaction; the record is delivered before the reply (read-your-writes), else by the
   * outbox drainer once the conversation service is back.
   */
  async clearHistory(userId: string, conversation: ParsedConversationId): Promise<number> {
    await this.assertCanRead(userId, conversation);
    const id = conversation.conversationId;
    const maxSeq = (await this.heads.maxSeqs([id])).get(id) ?? 0;
    // Nothing was ever sent: the floor is 0 and stays there (no row, nothing to say).
    if (maxSeq === 0) return 0;
    const outcome = await this.options.history.raiseFloor(id, userId, maxSeq, (t, seq, at) =>
      this.outbox.enqueue(t, [
        clearedRow(userId, id, seq),
        ...(this.options.events ? [clearedEvent(userId, id, seq, at)] : []),
      ]),
    );
    if (outcome.enqueued) await this.outbox.deliver(outcome.enqueued);
    return outcome.clearedSeq;
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
    return { heads: this.expiring(heads), maxSeqs };
  }

  /**
   * A head whose last message is past the retention window shows it as EXPIRED (no content),
   * also before the job has reached it or when a replica died between the job's commit and
   * its cache update: a head never shows an expired message.
   */
  private expiring(heads: ConversationHead[]): ConversationHead[] {
    const cutoff = this.options.retention.cutoff();
    if (!cutoff) return heads;
    return heads.map((h) =>
      h.lastMessage.status === MessageStatus.EXPIRED || h.lastMessage.sentAt >= cutoff
        ? h
        : {
            ...h,
            lastMessage: {
              ...h.lastMessage,
              status: MessageStatus.EXPIRED,
              content: Buffer.alloc(0),
            },
            lastMessageTruncated: false,
          },
    );
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
    return this.expiring(await this.repo.headsAt(clamped));
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
    if (message.status === MessageStatus.EXPIRED) throw messageExpired();
    const isSender = message.senderId === operatorId;
    if (isSender && message.status === MessageStatus.RECALLED) return message;
    const age = now.getTime() - message.sentAt.getTime();
    if (isSender && age <= this.options.recallWindowSeconds * 1000) {
      return this.erase(message, operatorId);
    }

    if (conversation.type === 'group') {
      const role = await this.groups.memberRole(conversation.groupId, operatorId);
      if (role === GroupRole.OWNER || role === GroupRole.ADMIN) {
        return message.status === MessageStatus.RECALLED
          ? message
          : this.erase(message, operatorId);
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

  /** Recalls in one transaction with its event (only the recall that changed the row emits). */
  private async erase(message: MessageRecord, operatorId: string): Promise<MessageRecord> {
    const { recalled, enqueued } = await this.repo.recall(
      message.conversationId,
      message.seq,
      (t, changed, at) =>
        this.outbox.enqueue(t, this.options.events ? [recalledEvent(changed, operatorId, at)] : []),
    );
    // The retention job got there between our read and the recall: nothing changed.
    if (recalled.status === MessageStatus.EXPIRED) throw messageExpired();
    await Promise.all([
      // Only changes the cache when this message is (or is behind) the cached head.
      this.heads.advance([recalled]),
      this.outbox.deliver(enqueued),
    ]);
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

const messageExpired = () =>
  new FailedPreconditionError('MESSAGE_EXPIRED', 'the message is past the retention window');

const windowPassed = () =>
  new FailedPreconditionError('RECALL_WINDOW_PASSED', 'the recall window has passed');
