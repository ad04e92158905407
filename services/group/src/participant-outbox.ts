import type { NewOutboxRow, OutboxHandler, OutboxRow } from '@im-repo/outbox';
import { groupConversationId } from '@im-repo/proto';
import type { ConversationServicePromiseClient } from '@im-repo/proto/conversation';
import { ConversationType } from '@im-repo/proto/message';
import { Counter, type Registry } from 'prom-client';
import type { FreezePoint } from './group.types';

/**
 * The outbox topic of the conversation service's participants: AddParticipants (one row per
 * joining user) and RemoveParticipants (one row per removal). One topic and the group as key,
 * so a group's joins and leaves reach the conversation service in commit order: a re-added
 * member's row unfreezes after, never before, the freeze of their earlier leave.
 */
export const PARTICIPANTS_TOPIC = 'conversation.participants';

/** AddParticipants user ids per call; a big join is split so no request grows unbounded. */
export const PARTICIPANTS_PER_CALL = 500;

/** Joins to tell the conversation service, keyed by group (a group's joins go in order). */
export function participantRows(groupId: string, userIds: string[]): NewOutboxRow[] {
  return userIds.map((userId) => ({
    topic: PARTICIPANTS_TOPIC,
    key: groupId,
    payload: Buffer.from(userId, 'utf8'),
  }));
}

/** A removal row's payload, JSON. A join row's payload is a user id, never starting with '{'. */
interface Removal {
  userIds: string[];
  frozenSeq: number;
  /** Epoch ms, null when frozenSeq is 0. */
  frozenAt: number | null;
}

/** Leaves and removals to tell the conversation service: one row for the users of one call. */
export function removalRows(
  groupId: string,
  userIds: string[],
  point: FreezePoint,
): NewOutboxRow[] {
  const removal: Removal = {
    userIds,
    frozenSeq: point.seq,
    frozenAt: point.sentAt ? point.sentAt.getTime() : null,
  };
  return [
    { topic: PARTICIPANTS_TOPIC, key: groupId, payload: Buffer.from(JSON.stringify(removal)) },
  ];
}

const isRemoval = (row: OutboxRow) => row.payload[0] === 0x7b; // '{'

/** Consecutive rows of one kind, in id order. */
function runs(rows: OutboxRow[]): OutboxRow[][] {
  const out: OutboxRow[][] = [];
  for (const row of rows) {
    const last = out[out.length - 1];
    if (last && isRemoval(last[0]!) === isRemoval(row)) last.push(row);
    else out.push([row]);
  }
  return out;
}

/** Which of these users are members of the group now. */
export type MembersNow = (groupId: string, userIds: string[]) => Promise<string[]>;

function deliveryCounter(registry: Registry | undefined): Counter<'result'> {
  const name = 'group_participant_deliveries_total';
  const existing = registry?.getSingleMetric(name);
  if (existing) return existing as Counter<'result'>;
  return new Counter({
    name,
    help: 'AddParticipants calls to the conversation service by outcome (ok, failed)',
    labelNames: ['result'],
    registers: registry ? [registry] : [],
  });
}

/**
 * Delivers a group's rows in id order, in runs of one kind. Joins: one AddParticipants per
 * PARTICIPANTS_PER_CALL users who are still members (a member removed before delivery is never
 * announced; AddParticipants is idempotent, so a repeated join is harmless). Removals: one
 * RemoveParticipants each (idempotent too). Runs delivered before a failing one count as
 * delivered; the rest stay queued, in order.
 */
export function participantsHandler(
  client: ConversationServicePromiseClient,
  membersNow: MembersNow,
  registry?: Registry,
): OutboxHandler {
  const counter = deliveryCounter(registry);
  const call = async (fn: () => Promise<unknown>) => {
    try {
      await fn();
      counter.inc({ result: 'ok' });
    } catch (err) {
      counter.inc({ result: 'failed' });
      throw err;
    }
  };
  const deliverJoins = async (groupId: string, run: OutboxRow[]) => {
    const named = [...new Set(run.map((r) => r.payload.toString('utf8')))];
    const userIds = await membersNow(groupId, named);
    for (let i = 0; i < userIds.length; i += PARTICIPANTS_PER_CALL) {
      await call(() =>
        client.addParticipants({
          conversationId: groupConversationId(groupId),
          conversationType: ConversationType.CONVERSATION_TYPE_GROUP,
          peerId: groupId,
          userIds: userIds.slice(i, i + PARTICIPANTS_PER_CALL),
        }),
      );
    }
  };
  const deliverRemovals = async (groupId: string, run: OutboxRow[]) => {
    for (const row of run) {
      const removal = JSON.parse(row.payload.toString('utf8')) as Removal;
      await call(() =>
        client.removeParticipants({
          conversationId: groupConversationId(groupId),
          userIds: removal.userIds,
          frozenSeq: removal.frozenSeq,
          frozenAt: removal.frozenAt === null ? undefined : new Date(removal.frozenAt),
        }),
      );
    }
  };
  return async (rows) => {
    const groups = new Map<string, typeof rows>();
    for (const row of rows) {
      const list = groups.get(row.key);
      if (list) list.push(row);
      else groups.set(row.key, [row]);
    }
    const delivered: number[] = [];
    for (const [groupId, list] of groups) {
      try {
        for (const run of runs(list)) {
          await (isRemoval(run[0]!) ? deliverRemovals : deliverJoins)(groupId, run);
          delivered.push(...run.map((r) => r.id));
        }
      } catch (err) {
        if (delivered.length === 0) throw err;
        return delivered;
      }
    }
    return delivered;
  };
}
