/**
 * Redis keys of the message service; the braces are the cluster hash tag, so every key of one
 * conversation lives in one slot.
 */
export const headKey = (conversationId: string) => `conv:{${conversationId}}:head`;
