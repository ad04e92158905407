/**
 * Conversation lists carry the last message as a preview, so that a page of heads stays small
 * (API.md v1.1: at most 1,024 bytes). PullMessages is where the full content is read.
 */
export const PREVIEW_BYTES = 1024;

const CONTENT_TYPE_TEXT = 1;

/** The first PREVIEW_BYTES of content; TEXT is cut at a UTF-8 character boundary. */
export function previewOf(
  content: Buffer,
  contentType: number,
): { content: Buffer; truncated: boolean } {
  if (content.length <= PREVIEW_BYTES) return { content, truncated: false };
  let end = PREVIEW_BYTES;
  // content[end] is the first byte left out: while it continues a character, that character
  // would be split, so it goes too.
  if (contentType === CONTENT_TYPE_TEXT) {
    while (end > 0 && (content[end]! & 0xc0) === 0x80) end--;
  }
  // A copy: a view would keep the whole content alive in caches.
  return { content: Buffer.from(content.subarray(0, end)), truncated: true };
}
