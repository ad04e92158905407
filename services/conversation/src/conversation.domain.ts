import { NotFoundError } from '@im-repo/errors';
import type { Enqueued, Outbox } from '@im-repo/outbox';
import {
  comesAfter,
  isVisible,
  lastActivity,
  positionOf,
  totalUnread,
  unreadCount,
} from './conversation-list';
import { readEvent, updatedEvent } from './conversation.events';
import type {
  ActivityUpsert,
  ConversationRepository,
  OnRowChange,
  UserRowUpsert,
} from './conversation.repository';
import type {
  AddParticipantsInput,
  ClearedRecordInput,
  ConversationHead,
  ConversationView,
  ListPage,
  ListPageToken,
  MessageRecordInput,
  RemoveParticipantsInput,
  UserConversationRecord,
} from './conversation.types';
import type { ListCursorStore } from './list-cursor.store';
import type { MessagePeer } from './message.peer';

const conversationNotFound = (userId: string, conversationId: string) =>
  new NotFoundError(
    'CONVERSATION_NOT_FOUND',
    `user ${userId} has no conversation ${conversationId}`,
    {
      user_id: userId,
      conversation_id: conversationId,
    },
  );

function toView(r: UserConversationRecord, head: ConversationHead): ConversationView {
  return {
    conversationId: r.conversationId,
    kind: r.kind,
    peerId: r.peerId,
    maxSeq: head.maxSeq,
    readSeq: r.readSeq,
    unreadCount: unreadCount(head.maxSeq, r.readSeq),
    pinned: r.pinned,
    muted: r.muted,
    // A cleared history shows no last message until a newer one arrives.
    ...(head.lastMessage && head.lastMessage.seq > r.clearedSeq
      ? { lastMessage: head.lastMessage, lastMessageTruncated: head.lastMessageTruncated ?? false }
      : { lastMessageTruncated: false }),
    updatedAt: lastActivity(r),
  };
}

interface PageCut {
  page: UserConversationRecord[];
  next: ListPageToken | undefined | Promise<ListPageToken | undefined>;
}

/**
 * Conversation lists, read positions and unread counts. max_seq and last messages always come
 * from the message service (one batched call per list page); this service stores only each
 * user's read position and flags, and one activity row per conversation for the list's order.
 */
export class ConversationDomain {
  constructor(
    private readonly repo: ConversationRepository,
    private readonly messages: MessagePeer,
    private readonly cursors: ListCursorStore,
    private readonly now: () => Date = () => new Date(),
    /** Owns conversation_outbox; set only while change events are on. */
    private readonly events?: Outbox,
  ) {}

  async listConversations(
    userId: string,
    pageSize: number,
    token: ListPageToken | undefined,
  ): Promise<ListPage> {
    const rows = await this.repo.listForUser(userId);
    const visible = rows.filter(isVisible);
    const cut = token
      ? await this.laterPage(userId, visible, pageSize, token)
      : this.firstPage(userId, visible, pageSize);
    const onPage = new Set(cut.page.map((r) => r.conversationId));
    const live = cut.page.filter((r) => r.frozenSeq === null).map((r) => r.conversationId);
    const others = rows
      .filter((r) => !r.muted && r.frozenSeq === null && !onPage.has(r.conversationId))
      .map((r) => r.conversationId);
    // The snapshot of a first page is stored while the message service answers. A page holds
    // at most 200 rows of ~2 KB (ids, a 1,024-byte preview), far under 4 MiB: no size cut.
    const [{ heads, maxSeqs }, frozenHeads, next] = await Promise.all([
      this.messages.heads(live, others),
      this.messages.headsAt(frozenRefs(cut.page)),
      cut.next,
    ]);
    const headOf = (r: UserConversationRecord): ConversationHead =>
      r.frozenSeq === null
        ? (heads.get(r.conversationId) ?? { maxSeq: 0 })
        : (frozenHeads.get(r.conversationId) ?? { maxSeq: r.frozenSeq });
    const maxSeqOf = (id: string) => heads.get(id)?.maxSeq ?? maxSeqs.get(id) ?? 0;
    return {
      conversations: cut.page.map((r) => toView(r, headOf(r))),
      ...(next ? { next } : {}),
      totalUnread: totalUnread(rows, maxSeqOf),
    };
  }

  /** The same figure as ListConversations' total_unread, by the same rule. */
  async getTotalUnread(userId: string): Promise<number> {
    const rows = await this.repo.listForUser(userId);
    const { maxSeqs } = await this.messages.heads(
      [],
      rows.filter((r) => !r.muted && r.frozenSeq === null).map((r) => r.conversationId),
    );
    return totalUnread(rows, (id) => maxSeqs.get(id) ?? 0);
  }

  async getConversation(userId: string, conversationId: string): Promise<ConversationView> {
    const row = await this.existing(userId, conversationId);
    return toView(row, await this.headOf(row));
  }

  /** Moves read_seq forward only, clamped to max_seq; 0 reads everything. */
  async markRead(
    userId: string,
    conversationId: string,
    readSeq: number,
  ): Promise<ConversationView> {
    let row = await this.existing(userId, conversationId);
    // A former member's head is the frozen one, so this clamps to the frozen max_seq.
    const head = await this.headOf(row);
    const target = readSeq === 0 ? head.maxSeq : Math.min(readSeq, head.maxSeq);
    if (target > row.readSeq) {
      const enqueued = await this.emitting(
        (onChange) => this.repo.raiseReadSeq(userId, conversationId, target, this.now(), onChange),
        (before, after, at) =>
          after.readSeq > before.readSeq ? [readEvent(userId, toView(after, head), at)] : [],
      );
      // Re-read: a concurrent MarkRead may have moved it further than target.
      row = (await this.repo.find(userId, conversationId)) ?? row;
      await this.deliver(enqueued);
    }
    return toView(row, head);
  }

  async setPinned(userId: string, conversationId: string, pinned: boolean) {
    return this.setFlag(userId, conversationId, 'pinned', pinned);
  }

  async setMuted(userId: string, conversationId: string, muted: boolean) {
    return this.setFlag(userId, conversationId, 'muted', muted);
  }

  /**
   * Hidden until a message above the current max_seq is recorded; marked read up to it so it
   * adds nothing to total_unread meanwhile.
   */
  async hideConversation(userId: string, conversationId: string): Promise<void> {
    const row = await this.existing(userId, conversationId);
    // Our recorded activity never runs ahead of the message service, but if it did, hiding
    // below it would leave the conversation visible.
    const maxSeq =
      row.frozenSeq ?? Math.max(await this.messages.maxSeq(conversationId), row.activityMaxSeq);
    const enqueued = await this.emitting(
      (onChange) => this.repo.hide(userId, conversationId, maxSeq, this.now(), onChange),
      async (before, after, at) => {
        const view = toView(after, await this.headOf(row));
        return [
          ...(after.readSeq > before.readSeq ? [readEvent(userId, view, at)] : []),
          updatedEvent(userId, view, at),
        ];
      },
    );
    await this.deliver(enqueued);
  }

  /**
   * Runs a row change; while events are on, the events `build` makes of what it changed are
   * written in its transaction. Returns them for the delivery after commit.
   */
  private async emitting(
    change: (onChange?: OnRowChange) => Promise<void>,
    build: (
      before: UserConversationRecord,
      after: UserConversationRecord,
      at: Date,
    ) => ReturnType<typeof readEvent>[] | Promise<ReturnType<typeof readEvent>[]>,
  ): Promise<Enqueued | undefined> {
    const events = this.events;
    if (!events) {
      await change();
      return undefined;
    }
    let enqueued: Enqueued | undefined;
    await change(async (t, before, after, at) => {
      enqueued = await events.enqueue(t, await build(before, after, at));
    });
    return enqueued;
  }

  private async deliver(enqueued: Enqueued | undefined): Promise<void> {
    if (enqueued) await this.events!.deliver(enqueued);
  }

  /**
   * Idempotent and order-independent: activity and read_seq only move forward, rows are only
   * created, and hidden-ness is derived from the activity, so replaying an older batch changes
   * nothing. Group sends touch the activity row and the sender's row only.
   */
  async recordMessages(records: MessageRecordInput[]): Promise<void> {
    if (records.length === 0) return;
    const activity = new Map<string, ActivityUpsert>();
    const rows = new Map<string, UserRowUpsert>();
    const addRow = (row: UserRowUpsert) => {
      const key = `${row.userId} ${row.conversationId}`;
      const seen = rows.get(key);
      if (!seen || row.readSeq > seen.readSeq) rows.set(key, row);
    };
    for (const r of records) {
      const seen = activity.get(r.conversationId);
      if (!seen || r.seq > seen.maxSeq) {
        activity.set(r.conversationId, {
          conversationId: r.conversationId,
          maxSeq: r.seq,
          lastSentAt: r.sentAt,
        });
      }
      const base = { conversationId: r.conversationId, kind: r.kind };
      // Own messages are never unread: the sender has read up to its own message.
      addRow({ ...base, userId: r.senderId, peerId: r.recipientId, readSeq: r.seq });
      if (r.kind === 'single' && r.recipientId !== r.senderId) {
        addRow({ ...base, userId: r.recipientId, peerId: r.senderId, readSeq: 0 });
      }
    }
    await this.repo.recordActivity([...activity.values()], [...rows.values()], this.now());
  }

  /**
   * New rows start fully read (at the message service's current max_seq), and so do former
   * members' frozen rows, which follow the group again; other existing rows stay as they are.
   */
  async addParticipants(input: AddParticipantsInput): Promise<void> {
    if (input.userIds.length === 0) return;
    const maxSeq = await this.messages.maxSeq(input.conversationId);
    await this.repo.insertMissing(
      input.userIds.map((userId) => ({
        userId,
        conversationId: input.conversationId,
        kind: input.kind,
        peerId: input.peerOf(userId),
        readSeq: maxSeq,
      })),
      this.now(),
    );
  }

  /**
   * A user's ClearHistory floor (from the message service's outbox): the row reads as read up
   * to it and shows no last message at or below it. Floors only rise; idempotent.
   */
  async recordCleared(records: ClearedRecordInput[]): Promise<void> {
    if (records.length === 0) return;
    await this.repo.raiseCleared(records, this.now());
  }

  /**
   * Members who left or were removed: their rows freeze where the group was then (the group
   * service reads frozen_seq right as the removal happens, see its README). Idempotent; a
   * later AddParticipants unfreezes (the group service's outbox keeps the two in order).
   */
  async removeParticipants(input: RemoveParticipantsInput): Promise<void> {
    if (input.userIds.length === 0) return;
    await this.repo.freeze(
      input.conversationId,
      input.userIds,
      input.frozenSeq,
      input.frozenAt,
      this.now(),
    );
  }

  /** A deleted user (the user service's outbox): the list is dropped and stays empty. */
  forgetUser(userId: string): Promise<void> {
    return this.repo.forgetUser(userId);
  }

  /** The head a row shows: the conversation now, or where a former member's row froze. */
  private async headOf(row: UserConversationRecord): Promise<ConversationHead> {
    if (row.frozenSeq === null) return this.messages.head(row.conversationId);
    const frozen = await this.messages.headsAt(frozenRefs([row]));
    return frozen.get(row.conversationId) ?? { maxSeq: row.frozenSeq };
  }

  private async setFlag(
    userId: string,
    conversationId: string,
    flag: 'pinned' | 'muted',
    value: boolean,
  ): Promise<ConversationView> {
    const row = await this.existing(userId, conversationId);
    // Ask first: if the message service is down the call fails without having changed anything.
    const head = await this.headOf(row);
    const enqueued = await this.emitting(
      (onChange) => this.repo.setFlag(userId, conversationId, flag, value, this.now(), onChange),
      (_before, after, at) => [updatedEvent(userId, toView(after, head), at)],
    );
    await this.deliver(enqueued);
    return toView({ ...row, [flag]: value }, head);
  }

  private async existing(userId: string, conversationId: string) {
    const row = await this.repo.find(userId, conversationId);
    if (!row) throw conversationNotFound(userId, conversationId);
    return row;
  }

  /**
   * Snapshots the order of everything after the first page, so the walk returns each
   * conversation visible now exactly once however the list reorders meanwhile.
   */
  private firstPage(userId: string, visible: UserConversationRecord[], size: number): PageCut {
    const page = visible.slice(0, size);
    if (visible.length <= size) return { page, next: undefined };
    const rest = visible.slice(size).map((r) => r.conversationId);
    const after = positionOf(page[page.length - 1]!);
    const next = this.cursors
      .save(userId, rest)
      .then((cursorId) => ({ cursorId: cursorId ?? '', offset: 0, after }));
    return { page, next };
  }

  private async laterPage(
    userId: string,
    visible: UserConversationRecord[],
    size: number,
    token: ListPageToken,
  ): Promise<PageCut> {
    const ids = token.cursorId
      ? await this.cursors.read(userId, token.cursorId, token.offset)
      : undefined;
    if (!ids) return keysetPage(visible, size, token);
    // Snapshot order, current data; conversations hidden since are skipped.
    const byId = new Map(visible.map((r) => [r.conversationId, r]));
    const page: UserConversationRecord[] = [];
    let used = 0;
    for (; used < ids.length && page.length < size; used++) {
      const row = byId.get(ids[used]!);
      if (row) page.push(row);
    }
    if (page.length === 0 || !ids.slice(used).some((id) => byId.has(id))) {
      return { page, next: undefined };
    }
    return {
      page,
      next: {
        cursorId: token.cursorId,
        offset: token.offset + used,
        after: positionOf(page[page.length - 1]!),
      },
    };
  }
}

const frozenRefs = (rows: UserConversationRecord[]) =>
  rows.flatMap((r) =>
    r.frozenSeq === null ? [] : [{ conversationId: r.conversationId, seq: r.frozenSeq }],
  );

/**
 * Without a snapshot (expired, Redis flushed or down): resume after the last position in the
 * current order. Weaker: a conversation that moves from below to above the position meanwhile
 * is skipped, one that moves the other way is seen twice.
 */
function keysetPage(
  visible: UserConversationRecord[],
  size: number,
  token: ListPageToken,
): PageCut {
  const rest = visible.filter((r) => comesAfter(r, token.after));
  const page = rest.slice(0, size);
  if (rest.length <= size) return { page, next: undefined };
  return { page, next: { cursorId: '', offset: 0, after: positionOf(page[page.length - 1]!) } };
}
