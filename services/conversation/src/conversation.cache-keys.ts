/**
 * Redis keys of the conversation service; the braces are the cluster hash tag, so all of one
 * user's keys share a slot.
 */

/** A list walk's snapshot: the ordered conversation ids still to be returned. */
export const listCursorKey = (userId: string, cursorId: string) =>
  `conv-list:{${userId}}:${cursorId}`;
