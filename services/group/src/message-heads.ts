import { groupConversationId } from '@im-repo/proto';
import type { PeerClient } from '@im-repo/server-kit';
import type { FreezePoint } from './group.types';

/** Where a group's conversation is now, asked of the message service (the owner of seqs). */
export class MessageHeads {
  constructor(private readonly client: PeerClient<'message'>) {}

  /** The group's max_seq and the sent_at of the message at it (seq 0, null: none yet). */
  async freezePoint(groupId: string): Promise<FreezePoint> {
    const conversationId = groupConversationId(groupId);
    const { heads } = await this.client.getConversationHeads({
      conversationIds: [conversationId],
      maxSeqOnlyIds: [],
    });
    const head = heads.find((h) => h.conversationId === conversationId);
    return head
      ? { seq: head.maxSeq, sentAt: head.lastMessage?.sentAt ?? null }
      : { seq: 0, sentAt: null };
  }
}
