import type { PeerClient } from '@im-repo/server-kit';

/** BatchGetUsers' cap (API.md). */
const BATCH = 500;

/**
 * Which users exist, asked of the user service (the only owner of users). Its failures arrive
 * relayed by the peer client's one rule.
 */
export class UserDirectory {
  constructor(private readonly client: PeerClient<'user'>) {}

  /** The ids among userIds that no registered user has, in request order. */
  async findUnknown(userIds: string[]): Promise<string[]> {
    const unique = [...new Set(userIds)];
    const chunks: string[][] = [];
    for (let i = 0; i < unique.length; i += BATCH) chunks.push(unique.slice(i, i + BATCH));
    const answers = await Promise.all(
      chunks.map((ids) => this.client.batchGetUsers({ userIds: ids })),
    );
    const found = new Set(answers.flatMap((a) => a.users.map((u) => u.userId)));
    return unique.filter((id) => !found.has(id));
  }
}
