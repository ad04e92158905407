import type { DeletedUsersRepository } from './deleted-users.repository';
import type { HeadCache } from './head-cache';
import type { MessageRecord } from './message.types';

/** Messages erased per ForgetUser call: one short transaction, far inside a peer deadline. */
const ERASE_BATCH = 500;

interface Waiter {
  ids: string[];
  resolve(found: Set<string>): void;
  reject(err: unknown): void;
}

/**
 * Which users are deleted, from MySQL on every ask: the one store every replica shares and
 * that sends need anyway (so Redis being down changes nothing). The asks of one tick go as one
 * statement, so concurrent sends share a primary-key lookup instead of a round trip each.
 */
export class DeletedUserCheck {
  private waiting: Waiter[] = [];

  constructor(private readonly repo: DeletedUsersRepository) {}

  /** The deleted ones among userIds. */
  findDeleted(userIds: string[]): Promise<Set<string>> {
    return new Promise((resolve, reject) => {
      if (this.waiting.length === 0) setImmediate(() => void this.flush());
      this.waiting.push({ ids: userIds, resolve, reject });
    });
  }

  private async flush(): Promise<void> {
    const batch = this.waiting;
    this.waiting = [];
    try {
      const found = await this.repo.findDeleted([...new Set(batch.flatMap((w) => w.ids))]);
      for (const w of batch) w.resolve(found);
    } catch (err) {
      for (const w of batch) w.reject(err);
    }
  }
}

/** message.ForgetUser: what the message service does when the user service deleted a user. */
export class UserForgetting {
  constructor(
    private readonly repo: DeletedUsersRepository,
    private readonly heads: HeadCache,
    /** Drops the user from this replica's known-users cache (others check the table). */
    private readonly forgetKnown: (userId: string) => void,
  ) {}

  /**
   * Records the deletion (from then on every replica refuses the user's sends) and, with
   * eraseContent, erases one batch of their messages. Returns whether nothing is left to do.
   */
  async forget(userId: string, eraseContent: boolean): Promise<boolean> {
    await this.repo.add(userId);
    this.forgetKnown(userId);
    if (!eraseContent) return true;
    const { erased, done } = await this.repo.eraseBatch(userId, ERASE_BATCH);
    // A cached head holding an erased message must not keep its content: advancing to the same
    // seq with the higher status replaces it (older messages leave the cached head alone).
    const newest = new Map<string, MessageRecord>();
    for (const msg of erased) {
      const seen = newest.get(msg.conversationId);
      if (!seen || seen.seq < msg.seq) newest.set(msg.conversationId, msg);
    }
    await this.heads.advance([...newest.values()]);
    return done;
  }
}
