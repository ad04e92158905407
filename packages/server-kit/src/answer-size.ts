/** gRPC's default receive limit, which no caller should have to raise (API.md v1.1). */
export const MAX_ANSWER_BYTES = 4 * 1024 * 1024;

/** Room for an answer's fields besides its list (page token, totals). */
const MARGIN_BYTES = 4 * 1024;

/** A repeated field's framing per item: its tag and a length varint of at most 5 bytes. */
const FRAMING_BYTES = 6;

/**
 * How many items, from the first, fit one answer, given each one's encoded size: a page ends
 * early rather than go past the limit. Always at least one, so a walk keeps moving.
 */
export function itemsThatFit(
  sizes: Iterable<number>,
  maxBytes = MAX_ANSWER_BYTES - MARGIN_BYTES,
): number {
  let total = 0;
  let n = 0;
  for (const size of sizes) {
    total += size + FRAMING_BYTES;
    if (n > 0 && total > maxBytes) break;
    n++;
  }
  return n;
}
