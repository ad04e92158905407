import { expect } from 'chai';
import { GroupRole } from '@im-repo/proto/group';
import { MessageStatus, type Message } from '@im-repo/proto/message';
import {
  deleteRedisPrefix,
  expectGrpcError,
  GrpcStatus,
  waitFor,
  type TestEnvironment,
} from '@im-repo/testing';
import {
  useMessageSuite,
  groupSend,
  textSend,
  uniqueId,
  type MessageInstance,
  type Peers,
} from './harness';

describe('RecallMessage', () => {
  let env: TestEnvironment;
  let peers: Peers;
  /** Recall window 120 s. */
  let svc: MessageInstance;
  /** Recall window 1 s, same database and Redis. */
  let brief: MessageInstance;
  const [x, y] = [uniqueId('rcx'), uniqueId('rcy')].sort() as [string, string];
  const stranger = uniqueId('rcs');
  const owner = uniqueId('own');
  const admin = uniqueId('adm');
  const member = uniqueId('mem');
  const gid = uniqueId('rcg');
  const single = `si_${x}_${y}`;
  const group = `sg_${gid}`;

  const suite = useMessageSuite('message-recall');
  before(async () => {
    ({ env, peers } = await suite.open());
    for (const u of [x, y, stranger]) peers.data.users.add(u);
    peers.data.groups.set(gid, {
      members: new Map([
        [owner, { role: GroupRole.GROUP_ROLE_OWNER }],
        [admin, { role: GroupRole.GROUP_ROLE_ADMIN }],
        [member, { role: GroupRole.GROUP_ROLE_MEMBER }],
      ]),
    });
    svc = await suite.service();
    brief = await suite.service({ message: { recall_window_seconds: 1 } });
  });

  const recall = (on: MessageInstance, operatorId: string, m: Message) =>
    on.client.recallMessage({ operatorId, conversationId: m.conversationId, seq: m.seq });

  /** Waits (bounded) until the 1 s window of a message has surely passed. */
  const afterWindow = (m: Message) =>
    waitFor(() => Date.now() > m.sentAt!.getTime() + 1300, { what: 'the recall window to pass' });

  const head = async (conversationId: string) =>
    (
      await svc.client.getConversationHeads({
        conversationIds: [conversationId],
        maxSeqOnlyIds: [],
      })
    ).heads[0]!;

  it('the sender within the window: content erased, RECALLED, seq kept, everywhere', async () => {
    const req = textSend(x, y, { content: Buffer.from('oops') });
    const { message } = await svc.client.sendMessage(req);
    expect((await head(single)).lastMessage).to.deep.equal(message); // cached before the recall
    const { message: recalled } = await recall(svc, x, message!);
    expect(recalled).to.deep.equal({
      ...message,
      content: Buffer.alloc(0),
      status: MessageStatus.MESSAGE_STATUS_RECALLED,
    });

    const pulled = await svc.client.pullMessages({
      userId: y,
      conversationId: single,
      beginSeq: message!.seq,
      endSeq: message!.seq,
      limit: 0,
      descending: false,
    });
    expect(pulled.messages).to.deep.equal([recalled]);
    expect(await head(single)).to.deep.include({ maxSeq: message!.seq, lastMessage: recalled });
    const again = await svc.client.sendMessage(req);
    expect(again).to.deep.equal({ message: recalled, duplicate: true });
    // Rebuilt from MySQL after a flush, the head is still the recalled message.
    await deleteRedisPrefix(env.redisPrefix);
    expect((await head(single)).lastMessage).to.deep.equal(recalled);
    const [row] = (await svc.deps.sequelize.query(
      'SELECT LENGTH(content) AS n, recalled_at FROM messages WHERE conversation_id = ? AND seq = ?',
      { replacements: [single, message!.seq], type: 'SELECT' },
    )) as { n: number; recalled_at: Date | null }[];
    expect(Number(row!.n)).to.equal(0);
    expect(row!.recalled_at).to.be.instanceOf(Date);
  });

  it('is idempotent: recalling again returns the recalled message, even after the window', async () => {
    const { message } = await brief.client.sendMessage(textSend(y, x));
    const first = await recall(brief, y, message!);
    expect(await recall(brief, y, message!)).to.deep.equal(first);
    await afterWindow(message!);
    expect(await recall(brief, y, message!)).to.deep.equal(first);
  });

  it('the sender after the window: FAILED_PRECONDITION RECALL_WINDOW_PASSED, message untouched', async () => {
    const { message } = await brief.client.sendMessage(textSend(x, y));
    await afterWindow(message!);
    await expectGrpcError(
      recall(brief, x, message!),
      GrpcStatus.FAILED_PRECONDITION,
      'RECALL_WINDOW_PASSED',
    );
    // The 120 s instance still lets the sender recall it: the window is configuration.
    expect((await recall(svc, x, message!)).message!.status).to.equal(
      MessageStatus.MESSAGE_STATUS_RECALLED,
    );
  });

  it('the other participant and a stranger may not recall a single-chat message', async () => {
    const { message } = await svc.client.sendMessage(textSend(x, y));
    await expectGrpcError(recall(svc, y, message!), GrpcStatus.PERMISSION_DENIED);
    await expectGrpcError(recall(svc, stranger, message!), GrpcStatus.PERMISSION_DENIED);
    const [stored] = (
      await svc.client.pullMessages({
        userId: x,
        conversationId: single,
        beginSeq: message!.seq,
        endSeq: message!.seq,
        limit: 0,
        descending: false,
      })
    ).messages;
    expect(stored).to.deep.equal(message);
  });

  it("a group's owner and admins recall anyone's message at any time; others may not", async () => {
    const one = (await brief.client.sendMessage(groupSend(member, gid))).message!;
    const two = (await brief.client.sendMessage(groupSend(member, gid))).message!;
    const three = (await brief.client.sendMessage(groupSend(owner, gid))).message!;
    await afterWindow(three);
    await expectGrpcError(
      recall(brief, member, one),
      GrpcStatus.FAILED_PRECONDITION,
      'RECALL_WINDOW_PASSED',
    );
    await expectGrpcError(
      recall(brief, member, three),
      GrpcStatus.PERMISSION_DENIED,
      'INSUFFICIENT_ROLE',
    );
    await expectGrpcError(
      recall(brief, stranger, one),
      GrpcStatus.PERMISSION_DENIED,
      'NOT_GROUP_MEMBER',
    );
    expect((await recall(brief, admin, one)).message!.status).to.equal(
      MessageStatus.MESSAGE_STATUS_RECALLED,
    );
    expect((await recall(brief, owner, two)).message!.status).to.equal(
      MessageStatus.MESSAGE_STATUS_RECALLED,
    );
    // The owner's own message after the window: allowed as owner.
    expect((await recall(brief, owner, three)).message!.status).to.equal(
      MessageStatus.MESSAGE_STATUS_RECALLED,
    );
    expect((await head(group)).lastMessage).to.deep.include({
      seq: three.seq,
      status: MessageStatus.MESSAGE_STATUS_RECALLED,
      content: Buffer.alloc(0),
    });
  });

  it('recalling an older message leaves the head alone', async () => {
    const older = (await svc.client.sendMessage(textSend(x, y))).message!;
    const newest = (await svc.client.sendMessage(textSend(y, x))).message!;
    await recall(svc, x, older);
    expect(await head(single)).to.deep.equal({
      conversationId: single,
      maxSeq: newest.seq,
      lastMessage: newest,
      lastMessageTruncated: false,
    });
  });

  it('an unknown message is NOT_FOUND MESSAGE_NOT_FOUND', async () => {
    await expectGrpcError(
      svc.client.recallMessage({ operatorId: x, conversationId: single, seq: 100_000 }),
      GrpcStatus.NOT_FOUND,
      'MESSAGE_NOT_FOUND',
    );
    await expectGrpcError(
      svc.client.recallMessage({ operatorId: x, conversationId: `sg_${gid}-none`, seq: 1 }),
      GrpcStatus.NOT_FOUND,
      'MESSAGE_NOT_FOUND',
    );
  });

  const bad: [string, Parameters<MessageInstance['client']['recallMessage']>[0]][] = [
    ['operator_id', { operatorId: '', conversationId: 'si_a_b', seq: 1 }],
    ['operator_id', { operatorId: 'a_b', conversationId: 'si_a_b', seq: 1 }],
    ['conversation_id', { operatorId: 'a', conversationId: 'si_b_a', seq: 1 }],
    ['conversation_id', { operatorId: 'a', conversationId: 'sg_', seq: 1 }],
    ['conversation_id', { operatorId: 'a', conversationId: 'zz_a_b', seq: 1 }],
    ['seq', { operatorId: 'a', conversationId: 'si_a_b', seq: -1 }],
    ['seq', { operatorId: 'a', conversationId: 'si_a_b', seq: 0 }],
  ];
  for (const [field, req] of bad) {
    it(`${JSON.stringify(req)} is INVALID_ARGUMENT naming ${field}`, async () => {
      const err = await expectGrpcError(
        svc.client.recallMessage(req),
        GrpcStatus.INVALID_ARGUMENT,
        'INVALID_ARGUMENT',
      );
      expect(err.metadata.field).to.equal(field);
    });
  }
});
