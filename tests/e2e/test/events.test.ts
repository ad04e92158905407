import { groupConversationId, singleConversationId } from '@im-repo/proto';
import type { Event } from '@im-repo/proto/events';
import { GroupRole } from '@im-repo/proto/group';
import { ContentType, ConversationType } from '@im-repo/proto/message';
import type { StoredEvent } from '@im-repo/testing';
import { expect } from 'chai';
import { eventsSuite } from './stack';

const SINGLE = ConversationType.CONVERSATION_TYPE_SINGLE;
const GROUP = ConversationType.CONVERSATION_TYPE_GROUP;

/** The event's payload, unwrapped, for deep comparison with an rpc's answer. */
const payload = (e: StoredEvent) => e.event.payload!.value as unknown;
const kinds = (events: StoredEvent[], prefix: string) =>
  events.map((e) => e.subject.slice(prefix.length + 1));

describe('change events on NATS JetStream (real NATS, the run’s own prefix and stream)', function () {
  this.timeout(120_000);
  let n = 0;
  const run = Date.now().toString(36);

  const suite = eventsSuite('e2e-events');

  const c = () => suite.stack.clients;
  const register = async (label: string) => {
    const userId = `${label}-${run}-${n++}`;
    const { user } = await c().user.register({
      userId,
      username: userId.replace(/-/g, '_').slice(0, 32),
      password: 'password-1',
      nickname: label,
      avatarUrl: '',
    });
    return user!;
  };
  const send = (
    senderId: string,
    type: ConversationType,
    recipientId: string,
    clientMsgId: string,
  ) =>
    c().message.sendMessage({
      clientMsgId,
      senderId,
      conversationType: type,
      recipientId,
      contentType: ContentType.CONTENT_TYPE_TEXT,
      content: Buffer.from(`text of ${clientMsgId}`),
    });

  /** Waits for exactly `count` new events after `from`, and for no more to arrive. */
  async function settle(from: number, count: number): Promise<StoredEvent[]> {
    const all = await suite.events.waitFor(from + count, 30_000);
    // Anything extra (a no-op that emitted, a duplicate) would land within this pause.
    await new Promise((r) => setTimeout(r, 1500));
    const after = await suite.events.read();
    expect(kinds(after.slice(from), suite.events.prefix)).to.deep.equal(
      kinds(all.slice(from, from + count), suite.events.prefix),
    );
    expect(after.length).to.equal(from + count);
    return after.slice(from);
  }

  it('every rpc of the table emits exactly its event, with the exact payload; no-ops emit nothing', async () => {
    const p = suite.events.prefix;
    const a = await register('a');
    const b = await register('b');
    const d = await register('d');
    const e = await register('e');
    let got = await settle(0, 4);
    expect(got.map((x) => x.subject)).to.deep.equal(
      [a, b, d, e].map((u) => `${p}.user.registered.${u.userId}`),
    );
    expect(payload(got[0]!)).to.deep.equal({ user: a });
    for (const x of got) {
      expect(x.msgId).to.equal(x.event.eventId);
      expect(x.event.occurredAt).to.be.instanceOf(Date);
    }
    let seen = 4;

    // UpdateUser: a set field emits (even unchanged); nothing set and ChangePassword emit nothing.
    const { user: a2 } = await c().user.updateUser({ userId: a.userId, nickname: 'a' });
    await c().user.updateUser({ userId: a.userId });
    await c().user.changePassword({
      userId: a.userId,
      oldPassword: 'password-1',
      newPassword: 'password-2',
    });
    got = await settle(seen, 1);
    seen += 1;
    expect(got[0]!.subject).to.equal(`${p}.user.updated.${a.userId}`);
    expect(payload(got[0]!)).to.deep.equal({ user: a2 });

    // Groups.
    const { group } = await c().group.createGroup({
      groupId: '',
      ownerId: a.userId,
      name: 'events',
      avatarUrl: '',
      intro: '',
      memberIds: [d.userId, b.userId, d.userId],
    });
    const g = group!.groupId;
    const { group: renamed } = await c().group.updateGroup({
      operatorId: a.userId,
      groupId: g,
      name: 'renamed',
    });
    const { group: allMuted } = await c().group.setGroupMuted({
      operatorId: a.userId,
      groupId: g,
      muted: true,
    });
    await c().group.setGroupMuted({ operatorId: a.userId, groupId: g, muted: true }); // no-op
    const { added } = await c().group.addMembers({
      operatorId: a.userId,
      groupId: g,
      userIds: [e.userId],
    });
    await c().group.addMembers({ operatorId: a.userId, groupId: g, userIds: [e.userId] }); // no-op
    const { member: promoted } = await c().group.setMemberRole({
      operatorId: a.userId,
      groupId: g,
      userId: b.userId,
      role: GroupRole.GROUP_ROLE_ADMIN,
    });
    await c().group.setMemberRole({
      operatorId: a.userId,
      groupId: g,
      userId: b.userId,
      role: GroupRole.GROUP_ROLE_ADMIN,
    }); // no-op
    const { member: muted } = await c().group.muteMember({
      operatorId: a.userId,
      groupId: g,
      userId: d.userId,
      durationSeconds: 600,
    });
    const { member: unmuted } = await c().group.muteMember({
      operatorId: a.userId,
      groupId: g,
      userId: d.userId,
      durationSeconds: 0,
    });
    await c().group.muteMember({
      operatorId: a.userId,
      groupId: g,
      userId: d.userId,
      durationSeconds: 0,
    }); // no-op
    const { group: transferred } = await c().group.transferOwnership({
      operatorId: a.userId,
      groupId: g,
      newOwnerId: b.userId,
    });
    await c().group.removeMembers({
      operatorId: b.userId,
      groupId: g,
      userIds: [e.userId, 'nobody', e.userId],
    });
    await c().group.removeMembers({ operatorId: b.userId, groupId: g, userIds: [e.userId] }); // no-op
    await c().group.leaveGroup({ userId: d.userId, groupId: g });
    got = await settle(seen, 10);
    seen += 10;
    const gk = (kind: string) => `${p}.group.${kind}.${g}`;
    expect(got.map((x) => x.subject)).to.deep.equal([
      gk('created'),
      gk('updated'),
      gk('updated'),
      gk('members_added'),
      gk('member_updated'),
      gk('member_updated'),
      gk('member_updated'),
      gk('updated'),
      gk('members_removed'),
      gk('members_removed'),
    ]);
    expect(payload(got[0]!)).to.deep.equal({
      group,
      memberIds: [a.userId, d.userId, b.userId],
    });
    expect(payload(got[1]!)).to.deep.equal({ group: renamed, operatorId: a.userId });
    expect(payload(got[2]!)).to.deep.equal({ group: allMuted, operatorId: a.userId });
    expect(payload(got[3]!)).to.deep.equal({ groupId: g, members: added, operatorId: a.userId });
    expect(payload(got[4]!)).to.deep.equal({ member: promoted, operatorId: a.userId });
    expect(payload(got[5]!)).to.deep.equal({ member: muted, operatorId: a.userId });
    expect(payload(got[6]!)).to.deep.equal({ member: unmuted, operatorId: a.userId });
    expect(payload(got[7]!)).to.deep.equal({ group: transferred, operatorId: a.userId });
    expect(payload(got[8]!)).to.deep.equal({
      groupId: g,
      userIds: [e.userId],
      operatorId: b.userId,
      left: false,
    });
    expect(payload(got[9]!)).to.deep.equal({
      groupId: g,
      userIds: [d.userId],
      operatorId: d.userId,
      left: true,
    });

    // Messages: a duplicate send emits nothing; a second recall emits nothing.
    const cid = singleConversationId(a.userId, e.userId);
    const first = await send(a.userId, SINGLE, e.userId, `m-${run}-1`);
    const dup = await send(a.userId, SINGLE, e.userId, `m-${run}-1`);
    expect(dup.duplicate).to.equal(true);
    const second = await send(e.userId, SINGLE, a.userId, `m-${run}-2`);
    const inGroup = await send(b.userId, GROUP, g, `m-${run}-3`);
    const { message: recalled } = await c().message.recallMessage({
      operatorId: a.userId,
      conversationId: cid,
      seq: 1,
    });
    await c().message.recallMessage({ operatorId: a.userId, conversationId: cid, seq: 1 });
    got = await settle(seen, 4);
    seen += 4;
    const bySubject = (s: string) => got.filter((x) => x.subject === s).map(payload);
    expect(bySubject(`${p}.message.created.${cid}`)).to.deep.equal([
      { message: first.message },
      { message: second.message },
    ]);
    expect(bySubject(`${p}.message.created.${groupConversationId(g)}`)).to.deep.equal([
      { message: inGroup.message },
    ]);
    expect(bySubject(`${p}.message.recalled.${cid}`)).to.deep.equal([
      { message: recalled, operatorId: a.userId },
    ]);
    // Per key across kinds: the recall comes after the creation.
    const ofKey = got.filter((x) => x.subject.endsWith(`.${cid}`)).map((x) => x.subject);
    expect(ofKey[ofKey.length - 1]).to.equal(`${p}.message.recalled.${cid}`);

    // Conversations: the senders' own sends moved nothing (no event above); a reads up to e's.
    const { conversation: read } = await c().conversation.markRead({
      userId: a.userId,
      conversationId: cid,
      readSeq: 0,
    });
    await c().conversation.markRead({ userId: a.userId, conversationId: cid, readSeq: 0 }); // no-op
    const { conversation: pinned } = await c().conversation.setPinned({
      userId: a.userId,
      conversationId: cid,
      pinned: true,
    });
    await c().conversation.setPinned({ userId: a.userId, conversationId: cid, pinned: true }); // no-op
    const { conversation: mutedConv } = await c().conversation.setMuted({
      userId: a.userId,
      conversationId: cid,
      muted: true,
    });
    await send(e.userId, SINGLE, a.userId, `m-${run}-4`);
    await c().conversation.hideConversation({ userId: a.userId, conversationId: cid });
    await c().conversation.hideConversation({ userId: a.userId, conversationId: cid }); // no-op
    got = await settle(seen, 6);
    seen += 6;
    const ek = (kind: string) => `${p}.conversation.${kind}.${a.userId}`;
    const convEvents = got.filter((x) => x.subject.startsWith(`${p}.conversation.`));
    expect(convEvents.map((x) => x.subject)).to.deep.equal([
      ek('read'),
      ek('updated'),
      ek('updated'),
      ek('read'),
      ek('updated'),
    ]);
    expect(payload(convEvents[0]!)).to.deep.equal({
      userId: a.userId,
      conversationId: cid,
      readSeq: read!.readSeq,
      unreadCount: read!.unreadCount,
    });
    expect(payload(convEvents[1]!)).to.deep.equal({ userId: a.userId, conversation: pinned });
    expect(payload(convEvents[2]!)).to.deep.equal({ userId: a.userId, conversation: mutedConv });
    expect(payload(convEvents[3]!)).to.include({ userId: a.userId, readSeq: 3, unreadCount: 0 });

    await c().group.dismissGroup({ operatorId: b.userId, groupId: g });
    got = await settle(seen, 1);
    expect(got[0]!.subject).to.equal(gk('dismissed'));
    expect(payload(got[0]!)).to.deep.equal({ groupId: g, operatorId: b.userId });
  });

  it('two message replicas under concurrent load: every send once, each conversation’s message.created seqs gapless and in order', async () => {
    const replica = await suite.stack.startReplica('message');
    const { createMessageServiceClient } = await import('@im-repo/proto/message');
    const second = createMessageServiceClient(replica.address, { timeoutMs: 60_000 });
    try {
      const users = await Promise.all([0, 1, 2].map(() => register('load')));
      const from = (await suite.events.read()).length;
      const pairs = [
        [users[0]!, users[1]!],
        [users[1]!, users[2]!],
      ];
      const perPair = 60;
      const calls: Promise<unknown>[] = [];
      for (let i = 0; i < perPair; i++) {
        for (const [s, r] of pairs) {
          const client = i % 2 === 0 ? c().message : second;
          calls.push(
            client.sendMessage({
              clientMsgId: `load-${run}-${s!.userId}-${i}`,
              senderId: s!.userId,
              conversationType: SINGLE,
              recipientId: r!.userId,
              contentType: ContentType.CONTENT_TYPE_TEXT,
              content: Buffer.from(`load ${i}`),
            }),
          );
        }
      }
      await Promise.all(calls);
      const got = await settle(from, perPair * pairs.length);
      for (const [s, r] of pairs) {
        const cid = singleConversationId(s!.userId, r!.userId);
        const seqs = got
          .filter((x) => x.subject === `${suite.events.prefix}.message.created.${cid}`)
          .map(
            (x) =>
              (x.event.payload as Extract<Event['payload'], { $case: 'messageCreated' }>).value
                .message!.seq,
          );
        expect(seqs).to.deep.equal(Array.from({ length: perPair }, (_, i) => i + 1));
      }
      expect(new Set(got.map((x) => x.event.eventId)).size).to.equal(got.length);
    } finally {
      second.close();
      await replica.stop();
    }
  });
});
