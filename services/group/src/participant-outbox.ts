import type { NewOutboxRow, OutboxHandler } from '@im-repo/outbox';
import { groupConversationId } from '@im-repo/proto';
import type { ConversationServicePromiseClient } from '@im-repo/proto/conversation';
import { ConversationType } from '@im-repo/proto/message';
import { Counter, type Registry } from 'prom-client';

/** The outbox topic of ConversationService.AddParticipants: one row per joining user. */
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
 * Delivers join rows: per group, one AddParticipants per PARTICIPANTS_PER_CALL users who are
 * still members (a member removed before delivery is never announced; AddParticipants is
 * idempotent, so a repeated join is harmless). Groups delivered before a failing one count as
 * delivered; the rest stay queued.
 */
export function participantsHandler(
  client: ConversationServicePromiseClient,
  membersNow: MembersNow,
  registry?: Registry,
): OutboxHandler {
  const counter = deliveryCounter(registry);
  return async (rows) => {
    const groups = new Map<string, typeof rows>();
    for (const row of rows) {
      const list = groups.get(row.key);
      if (list) list.push(row);
      else groups.set(row.key, [row]);
    }
    const delivered: number[] = [];
    for (const [groupId, list] of groups) {
      const named = [...new Set(list.map((r) => r.payload.toString('utf8')))];
      const userIds = await membersNow(groupId, named);
      for (let i = 0; i < userIds.length; i += PARTICIPANTS_PER_CALL) {
        try {
          await client.addParticipants({
            conversationId: groupConversationId(groupId),
            conversationType: ConversationType.CONVERSATION_TYPE_GROUP,
            peerId: groupId,
            userIds: userIds.slice(i, i + PARTICIPANTS_PER_CALL),
          });
          counter.inc({ result: 'ok' });
        } catch (err) {
          counter.inc({ result: 'failed' });
          if (delivered.length === 0) throw err;
          return delivered;
        }
      }
      delivered.push(...list.map((r) => r.id));
    }
    return delivered;
  };
}
