import { InvalidArgumentError } from '@im-repo/errors';
import { groupConversationId, parseConversationId, singleConversationId } from '@im-repo/proto';
import type {
  AddParticipantsRequest,
  ClearedRecord,
  MessageRecord,
  RemoveParticipantsRequest,
} from '@im-repo/proto/conversation';
import { ConversationType } from '@im-repo/proto/message';
import { validate } from '@im-repo/server-kit';
import type {
  AddParticipantsInput,
  ClearedRecordInput,
  ConversationKind,
  ListPageToken,
  MessageRecordInput,
  RemoveParticipantsInput,
} from './conversation.types';

/** Records per RecordMessages call (the message service batches at most 4096 per commit). */
export const MAX_RECORDS = 10_000;
/** Users per AddParticipants call; the group service chunks larger groups. */
export const MAX_PARTICIPANTS = 5000;
// DATETIME(3) ends at 9999-12-31; earlier than the epoch is no real send time.
const LATEST_TIME_MS = Date.UTC(9999, 11, 31, 23, 59, 59, 999);

const KINDS = [ConversationType.CONVERSATION_TYPE_SINGLE, ConversationType.CONVERSATION_TYPE_GROUP];

export function kindOf(field: string, type: ConversationType): ConversationKind {
  return validate.enumValue(field, type, KINDS) === ConversationType.CONVERSATION_TYPE_GROUP
    ? 'group'
    : 'single';
}

export const protoType = (kind: ConversationKind) =>
  kind === 'group'
    ? ConversationType.CONVERSATION_TYPE_GROUP
    : ConversationType.CONVERSATION_TYPE_SINGLE;

/** A canonical conversation id whose kind matches the stated conversation_type. */
function typedConversation(idField: string, id: string, typeField: string, type: ConversationType) {
  const parsed = validate.conversationId(idField, id);
  const kind = kindOf(typeField, type);
  if (parsed.type !== kind) {
    throw new InvalidArgumentError(
      typeField,
      `${typeField} does not match ${idField} (a ${parsed.type} conversation)`,
    );
  }
  return parsed;
}

function record(r: MessageRecord, i: number): MessageRecordInput {
  const f = (name: string) => `records[${i}].${name}`;
  const parsed = typedConversation(
    f('conversation_id'),
    r.conversationId,
    f('conversation_type'),
    r.conversationType,
  );
  const senderId = validate.id(f('sender_id'), r.senderId);
  const recipientId = validate.id(f('recipient_id'), r.recipientId);
  const expected =
    parsed.type === 'single'
      ? singleConversationId(senderId, recipientId)
      : groupConversationId(recipientId);
  if (parsed.conversationId !== expected) {
    throw new InvalidArgumentError(
      f('conversation_id'),
      `${f('conversation_id')} must be ${expected} for this sender and recipient`,
    );
  }
  if (!Number.isSafeInteger(r.seq) || r.seq < 1) {
    throw new InvalidArgumentError(f('seq'), `${f('seq')} must be at least 1`);
  }
  const sentAt = r.sentAt;
  const ms = sentAt?.getTime();
  if (ms === undefined || Number.isNaN(ms) || ms < 0 || ms > LATEST_TIME_MS) {
    throw new InvalidArgumentError(
      f('sent_at'),
      sentAt ? `${f('sent_at')} is out of range` : `${f('sent_at')} is required`,
    );
  }
  return {
    conversationId: parsed.conversationId,
    kind: parsed.type,
    senderId,
    recipientId,
    seq: r.seq,
    sentAt: sentAt!,
  };
}

export function messageRecords(records: MessageRecord[]): MessageRecordInput[] {
  if (records.length > MAX_RECORDS) {
    throw new InvalidArgumentError(
      'records',
      `records holds ${records.length} entries; at most ${MAX_RECORDS}`,
    );
  }
  return records.map(record);
}

/** RecordCleared: each user must be a participant of a single chat (any user of a group). */
export function clearedRecords(records: ClearedRecord[]): ClearedRecordInput[] {
  if (records.length > MAX_RECORDS) {
    throw new InvalidArgumentError(
      'records',
      `records holds ${records.length} entries; at most ${MAX_RECORDS}`,
    );
  }
  return records.map((r, i) => {
    const f = (name: string) => `records[${i}].${name}`;
    const userId = validate.id(f('user_id'), r.userId);
    const parsed = validate.conversationId(f('conversation_id'), r.conversationId);
    if (!Number.isSafeInteger(r.clearedSeq) || r.clearedSeq < 1) {
      throw new InvalidArgumentError(f('cleared_seq'), `${f('cleared_seq')} must be at least 1`);
    }
    const base = { userId, conversationId: parsed.conversationId, clearedSeq: r.clearedSeq };
    if (parsed.type === 'group') return { ...base, kind: 'group' as const, peerId: parsed.groupId };
    const [a, b] = parsed.userIds;
    if (userId !== a && userId !== b) {
      throw new InvalidArgumentError(
        f('user_id'),
        `${f('user_id')} is not a participant of ${parsed.conversationId}`,
      );
    }
    return { ...base, kind: 'single' as const, peerId: userId === a ? b : a };
  });
}

/**
 * Group: every user gets the group as peer. Single chat: users must be its participants and
 * each gets the other one as peer. peer_id may be left empty (it is derivable); if set it must
 * agree.
 */
export function participants(req: AddParticipantsRequest): AddParticipantsInput {
  const parsed = typedConversation(
    'conversation_id',
    req.conversationId,
    'conversation_type',
    req.conversationType,
  );
  const userIds = [...new Set(validate.idList('user_ids', req.userIds, MAX_PARTICIPANTS))];
  if (parsed.type === 'group') {
    if (req.peerId !== '' && req.peerId !== parsed.groupId) {
      throw new InvalidArgumentError('peer_id', `peer_id must be the group id ${parsed.groupId}`);
    }
    return {
      conversationId: parsed.conversationId,
      kind: 'group',
      userIds,
      peerOf: () => parsed.groupId,
    };
  }
  const [a, b] = parsed.userIds;
  if (req.peerId !== '' && req.peerId !== a && req.peerId !== b) {
    throw new InvalidArgumentError('peer_id', 'peer_id must be a participant of the conversation');
  }
  userIds.forEach((u, i) => {
    if (u !== a && u !== b) {
      throw new InvalidArgumentError(
        `user_ids[${i}]`,
        `user_ids[${i}] is not a participant of ${parsed.conversationId}`,
      );
    }
  });
  return {
    conversationId: parsed.conversationId,
    kind: 'single',
    userIds,
    peerOf: (u) => (u === a ? b : a),
  };
}

/** Only group members leave: conversation_id must be a group conversation. */
export function removedParticipants(req: RemoveParticipantsRequest): RemoveParticipantsInput {
  const parsed = validate.conversationId('conversation_id', req.conversationId);
  if (parsed.type !== 'group') {
    throw new InvalidArgumentError(
      'conversation_id',
      'conversation_id must be a group conversation',
    );
  }
  const userIds = [...new Set(validate.idList('user_ids', req.userIds, MAX_PARTICIPANTS))];
  const frozenSeq = validate.nonNegative('frozen_seq', req.frozenSeq);
  const ms = req.frozenAt?.getTime();
  if (ms !== undefined && !(ms >= 0 && ms <= LATEST_TIME_MS)) {
    throw new InvalidArgumentError('frozen_at', 'frozen_at is out of range');
  }
  if (frozenSeq > 0 && ms === undefined) {
    throw new InvalidArgumentError('frozen_at', 'frozen_at is required when frozen_seq is set');
  }
  return {
    conversationId: parsed.conversationId,
    userIds,
    frozenSeq,
    frozenAt: frozenSeq > 0 ? req.frozenAt! : null,
  };
}

// Page tokens hold short keys: c cursor id, o offset, p pinned, t activity ms, i conversation id.
interface TokenShape {
  c: string;
  o: number;
  p: 0 | 1;
  t: number;
  i: string;
}

function isTokenShape(v: unknown): v is TokenShape {
  const t = v as TokenShape;
  return (
    typeof t === 'object' &&
    t !== null &&
    typeof t.c === 'string' &&
    /^[A-Za-z0-9_-]{0,32}$/.test(t.c) &&
    Number.isSafeInteger(t.o) &&
    t.o >= 0 &&
    (t.p === 0 || t.p === 1) &&
    Number.isSafeInteger(t.t) &&
    typeof t.i === 'string' &&
    parseConversationId(t.i) !== undefined
  );
}

export function encodeListToken(token: ListPageToken): string {
  const shape: TokenShape = {
    c: token.cursorId,
    o: token.offset,
    p: token.after.pinned ? 1 : 0,
    t: token.after.activityMs,
    i: token.after.conversationId,
  };
  return validate.encodePageToken(shape);
}

export function decodeListToken(value: string): ListPageToken | undefined {
  const shape = validate.decodePageToken('page_token', value, isTokenShape);
  if (!shape) return undefined;
  return {
    cursorId: shape.c,
    offset: shape.o,
    after: { pinned: shape.p === 1, activityMs: shape.t, conversationId: shape.i },
  };
}
