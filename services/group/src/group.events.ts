import { eventRow } from '@im-repo/events';
import type { NewOutboxRow } from '@im-repo/outbox';
import { groupToProto, memberToProto } from './group.mapping';
import type { GroupRecord, MemberRecord } from './group.types';

// Pure: domain results -> outbox rows of the change events, keyed by group id, each built at
// the commit clock `at`. Payloads are what the rpc answered; id lists in request order.

export const groupCreated = (group: GroupRecord, memberIds: string[]) => (at: Date) => [
  eventRow(group.groupId, at, {
    $case: 'groupCreated',
    value: { group: groupToProto(group), memberIds },
  }),
];

export const groupUpdated = (group: GroupRecord, operatorId: string) => (at: Date) => [
  eventRow(group.groupId, at, {
    $case: 'groupUpdated',
    value: { group: groupToProto(group), operatorId },
  }),
];

export const groupDismissed = (groupId: string, operatorId: string) => (at: Date) => [
  eventRow(groupId, at, { $case: 'groupDismissed', value: { groupId, operatorId } }),
];

export const membersAdded =
  (groupId: string, members: MemberRecord[], operatorId: string) =>
  (at: Date): NewOutboxRow[] =>
    members.length === 0
      ? []
      : [
          eventRow(groupId, at, {
            $case: 'membersAdded',
            value: { groupId, members: members.map(memberToProto), operatorId },
          }),
        ];

export const membersRemoved =
  (groupId: string, userIds: string[], operatorId: string, left: boolean) =>
  (at: Date): NewOutboxRow[] =>
    userIds.length === 0
      ? []
      : [
          eventRow(groupId, at, {
            $case: 'membersRemoved',
            value: { groupId, userIds, operatorId, left },
          }),
        ];

export const memberUpdated = (member: MemberRecord, operatorId: string) => (at: Date) => [
  eventRow(member.groupId, at, {
    $case: 'memberUpdated',
    value: { member: memberToProto(member), operatorId },
  }),
];
