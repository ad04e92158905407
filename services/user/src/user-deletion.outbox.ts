import type { NewOutboxRow, Outbox, OutboxHandler } from '@im-repo/outbox';
import type { PeerClient } from '@im-repo/server-kit';

/*
 * What follows a DeleteUser, durably: one user_outbox row per peer, written in the deletion's
 * transaction and keyed by the user, so a peer that is down at the time gets its call once it
 * is back (the drainer retries with backoff). Every peer's ForgetUser is idempotent. One topic
 * per peer, so one peer being down delays nothing of the others.
 */
export const DELETION_TOPICS = {
  /** message.ForgetUser: every replica refuses the user's sends from then on. */
  messageForget: 'user-deleted.message',
  /** message.ForgetUser with erase_content, repeated until done (USER_DELETE_ERASES_CONTENT). */
  messageErase: 'user-deleted.message-erase',
  presence: 'user-deleted.presence',
  group: 'user-deleted.group',
  conversation: 'user-deleted.conversation',
} as const;

export interface DeletionPeers {
  message: PeerClient<'message'>;
  presence: PeerClient<'presence'>;
  group: PeerClient<'group'>;
  conversation: PeerClient<'conversation'>;
}

/**
 * The row that makes every message replica refuse the user's sends: DeleteUser tries it before
 * it returns, whatever happened to the topic lately.
 */
export function sendsRow(userId: string): NewOutboxRow {
  return { topic: DELETION_TOPICS.messageForget, key: userId, payload: new Uint8Array(0) };
}

/** The other follow-ups of one deletion (the user id is the key; the payload is empty). */
export function followUpRows(userId: string, eraseContent: boolean): NewOutboxRow[] {
  const topics: string[] = [
    DELETION_TOPICS.presence,
    DELETION_TOPICS.group,
    DELETION_TOPICS.conversation,
  ];
  if (eraseContent) topics.push(DELETION_TOPICS.messageErase);
  return topics.map((topic) => ({ topic, key: userId, payload: new Uint8Array(0) }));
}

/** One call per row (rows of one topic are of distinct users); the failed ones stay queued. */
function perUser(call: (userId: string) => Promise<unknown>): OutboxHandler {
  return async (rows) => {
    const delivered: number[] = [];
    let failure: unknown;
    await Promise.all(
      rows.map(async (row) => {
        try {
          await call(row.key);
          delivered.push(row.id);
        } catch (err) {
          failure = err;
        }
      }),
    );
    if (delivered.length === 0 && failure !== undefined) throw failure;
    return delivered;
  };
}

/**
 * Registers the deletion topics. Erasure runs off the caller's path (a user may have sent
 * millions of messages): each call erases one batch, and a delivery that has not finished
 * within `eraseBudgetMs` hands the row back to the drainer, which goes on later.
 */
export function registerDeletionTopics(
  outbox: Outbox,
  peers: DeletionPeers,
  eraseBudgetMs: number,
): void {
  outbox.register(
    DELETION_TOPICS.messageForget,
    perUser((userId) => peers.message.forgetUser({ userId, eraseContent: false })),
  );
  outbox.register(
    DELETION_TOPICS.presence,
    perUser((userId) => peers.presence.forgetUser({ userId })),
  );
  outbox.register(
    DELETION_TOPICS.group,
    perUser((userId) => peers.group.forgetUser({ userId })),
  );
  outbox.register(
    DELETION_TOPICS.conversation,
    perUser((userId) => peers.conversation.forgetUser({ userId })),
  );
  outbox.register(
    DELETION_TOPICS.messageErase,
    perUser(async (userId) => {
      const until = Date.now() + eraseBudgetMs;
      for (;;) {
        const { done } = await peers.message.forgetUser({ userId, eraseContent: true });
        if (done) return;
        if (Date.now() > until) throw new Error(`erasing the messages of ${userId} goes on`);
      }
    }),
    { inline: false },
  );
}
