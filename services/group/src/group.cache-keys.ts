/**
 * Redis keys of the group service. The braces are the cluster hash tag: a group's entry and
 * all of its members' entries share the group id's slot.
 */
export const groupKey = (groupId: string) => `group:{${groupId}}`;

export const memberKey = (groupId: string, userId: string) => `group-member:{${groupId}}:${userId}`;
