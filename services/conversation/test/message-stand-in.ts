import { InvalidArgumentError } from '@im-repo/errors';
import { groupConversationId, singleConversationId } from '@im-repo/proto';
import type { MessageRecord } from '@im-repo/proto/conversation';
import {
  ContentType,
  ConversationType,
  MessageStatus,
  messageService,
  type GetConversationHeadsRequest,
  type Message,
} from '@im-repo/proto/message';
import { createStandInServer, type GrpcServer } from '@im-repo/server-kit';

interface Head {
  maxSeq: number;
  last?: Message;
}

/**
 * The message service, played by the test: an in-test map of conversation heads that the test
 * advances together with the RecordMessages calls it makes. Counts every call it answers and
 * enforces the real caps, so a list that asks too much or too often fails the test.
 */
export class MessageStandIn {
  readonly conversations = new Map<string, Head>();
  readonly headsRequests: GetConversationHeadsRequest[] = [];
  maxSeqsCalls = 0;
  private lastSentMs = 0;

  private readonly server: GrpcServer;
  private bound = '';

  private constructor() {
    this.server = createStandInServer(messageService, {
      getConversationHeads: async (req) => this.answerHeads(req),
      getMaxSeqs: async (req) => this.answerMaxSeqs(req),
    });
  }

  static async start(): Promise<MessageStandIn> {
    const standIn = new MessageStandIn();
    const port = await standIn.server.listen(0, '127.0.0.1');
    standIn.bound = `127.0.0.1:${port}`;
    return standIn;
  }

  get address(): string {
    return this.bound;
  }

  get headsCalls(): number {
    return this.headsRequests.length;
  }

  maxSeq(conversationId: string): number {
    return this.conversations.get(conversationId)?.maxSeq ?? 0;
  }

  /**
   * A durable send: the next seq of the conversation, a strictly later sent_at than any send
   * before, and the record the message service would hand to RecordMessages.
   */
  send(senderId: string, kind: 'single' | 'group', recipientId: string): MessageRecord {
    const conversationId =
      kind === 'single'
        ? singleConversationId(senderId, recipientId)
        : groupConversationId(recipientId);
    const head = this.conversations.get(conversationId) ?? { maxSeq: 0 };
    const seq = head.maxSeq + 1;
    this.lastSentMs = Math.max(Date.now(), this.lastSentMs + 1);
    const sentAt = new Date(this.lastSentMs);
    const conversationType =
      kind === 'single'
        ? ConversationType.CONVERSATION_TYPE_SINGLE
        : ConversationType.CONVERSATION_TYPE_GROUP;
    const last: Message = {
      serverMsgId: `m-${conversationId}-${seq}`,
      clientMsgId: `c-${seq}`,
      conversationId,
      conversationType,
      seq,
      senderId,
      recipientId,
      contentType: ContentType.CONTENT_TYPE_TEXT,
      content: Buffer.from(`message ${seq}`),
      status: MessageStatus.MESSAGE_STATUS_NORMAL,
      sentAt,
    };
    this.conversations.set(conversationId, { maxSeq: seq, last });
    return { conversationId, conversationType, senderId, recipientId, seq, sentAt };
  }

  async stop(): Promise<void> {
    await this.server.shutdown();
  }

  private answerMaxSeqs(req: { conversationIds: string[] }) {
    this.maxSeqsCalls++;
    if (req.conversationIds.length > 1000) {
      throw new InvalidArgumentError('conversation_ids', 'at most 1000');
    }
    return {
      maxSeqs: Object.fromEntries(req.conversationIds.map((id) => [id, this.maxSeq(id)])),
    };
  }

  private answerHeads(req: GetConversationHeadsRequest) {
    this.headsRequests.push(req);
    if (req.conversationIds.length > 1000) {
      throw new InvalidArgumentError('conversation_ids', 'at most 1000');
    }
    if (req.maxSeqOnlyIds.length > 10_000) {
      throw new InvalidArgumentError('max_seq_only_ids', 'at most 10000');
    }
    return {
      heads: req.conversationIds.flatMap((conversationId) => {
        const head = this.conversations.get(conversationId);
        return head
          ? [
              {
                conversationId,
                maxSeq: head.maxSeq,
                lastMessage: head.last,
                lastMessageTruncated: false,
              },
            ]
          : [];
      }),
      maxSeqs: Object.fromEntries(req.maxSeqOnlyIds.map((id) => [id, this.maxSeq(id)])),
    };
  }
}
