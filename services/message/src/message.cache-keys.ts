/**
 * Redis keys of the message service; the braces are the cluster hash tag, so every key of one
 * conversation lives in one slot.
 */
export const headKey = (conversationId: string) => `conv:{${conversationId}}:head`;
/** The head's max_seq alone, as a plain string: lists read many of them in one MGET. */
export const seqKey = (conversationId: string) => `conv:{${conversationId}}:seq`;
