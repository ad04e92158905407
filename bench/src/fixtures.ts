import { createConversationServiceClient } from '@im-repo/proto/conversation';
import { createGroupServiceClient } from '@im-repo/proto/group';
import { ContentType, ConversationType, createMessageServiceClient } from '@im-repo/proto/message';
import { createPresenceServiceClient } from '@im-repo/proto/presence';
import { createUserServiceClient } from '@im-repo/proto/user';
import type { Stack } from './stack';

/** Runs fn over items with bounded concurrency. */
export async function inParallel<T, R>(
  items: T[],
  limit: number,
  fn: (item: T, i: number) => Promise<R>,
): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, items.length) }, async () => {
      while (next < items.length) {
        const i = next++;
        out[i] = await fn(items[i]!, i);
      }
    }),
  );
  return out;
}

/** Setup data shared by scenarios, made through the public rpcs (not measured). */
export class Fixtures {
  readonly user;
  readonly group;
  readonly message;
  readonly conversation;
  readonly presence;
  private users: string[] = [];
  private runId = Date.now().toString(36);

  constructor(stack: Stack) {
    const opts = { timeoutMs: 60_000 };
    this.user = createUserServiceClient(stack.addresses.user, opts);
    this.group = createGroupServiceClient(stack.addresses.group, opts);
    this.message = createMessageServiceClient(stack.addresses.message, opts);
    this.conversation = createConversationServiceClient(stack.addresses.conversation, opts);
    this.presence = createPresenceServiceClient(stack.addresses.presence, opts);
  }

  /** At least n registered users (ids), registering the missing ones. */
  async usersAtLeast(n: number): Promise<string[]> {
    const missing = Array.from(
      { length: Math.max(0, n - this.users.length) },
      (_, i) => this.users.length + i,
    );
    const ids = await inParallel(missing, 32, async (i) => {
      const userId = `b${this.runId}-${i}`;
      await this.user.register({
        userId,
        username: `b${this.runId}_${i}`,
        password: 'bench-password',
        nickname: '',
        avatarUrl: '',
      });
      return userId;
    });
    this.users.push(...ids);
    return this.users.slice(0, n);
  }

  /** A group of exactly `size` members (owner included). */
  async groupOf(size: number, label: string): Promise<{ groupId: string; members: string[] }> {
    const members = (await this.usersAtLeast(size)).slice(0, size);
    const groupId = `g${this.runId}-${label}`;
    const [owner, ...rest] = members;
    await this.group.createGroup({
      groupId,
      ownerId: owner!,
      name: label,
      avatarUrl: '',
      intro: '',
      memberIds: rest.slice(0, 500),
    });
    for (let i = 500; i < rest.length; i += 500) {
      await this.group.addMembers({
        operatorId: owner!,
        groupId,
        userIds: rest.slice(i, i + 500),
      });
    }
    return { groupId, members };
  }

  async send(senderId: string, type: ConversationType, recipientId: string, clientMsgId: string) {
    return this.message.sendMessage({
      clientMsgId,
      senderId,
      conversationType: type,
      recipientId,
      contentType: ContentType.CONTENT_TYPE_TEXT,
      content: Buffer.from(`setup ${clientMsgId}`),
    });
  }

  close(): void {
    for (const c of [this.user, this.group, this.message, this.conversation, this.presence])
      c.close();
  }
}
