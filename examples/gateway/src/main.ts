/**
 * A gateway sketch: the HTTP edge a mobile or web client talks to, in front of im-repo. It shows
 * the client package's habits (one client per service, a deadline per call, errors mapped by
 * their reason), not a product: there is no authentication, which a real gateway does first and
 * then takes the user id from the session instead of the request.
 *
 *   POST /send  {"from","to","text","clientMsgId"}  -> the stored message (seq, server_msg_id)
 *   GET  /conversations?user=<id>                   -> the conversation list with unread counts
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import {
  createConversationServiceClient,
  createMessageServiceClient,
  decodeError,
} from '@im-repo/client';
import { ContentType, ConversationType } from '@im-repo/client/message';

const messages = createMessageServiceClient(process.env.MESSAGE_ADDR ?? '127.0.0.1:8083', {
  timeoutMs: 2000,
});
const conversations = createConversationServiceClient(
  process.env.CONVERSATION_ADDR ?? '127.0.0.1:8084',
  { timeoutMs: 2000 },
);

/** gRPC code -> HTTP status; the ErrorInfo reason goes to the client as is. */
const HTTP_STATUS: Record<string, number> = {
  INVALID_ARGUMENT: 400,
  UNAUTHENTICATED: 401,
  PERMISSION_DENIED: 403,
  NOT_FOUND: 404,
  ALREADY_EXISTS: 409,
  FAILED_PRECONDITION: 409,
  RESOURCE_EXHAUSTED: 429,
  UNAVAILABLE: 503,
  DEADLINE_EXCEEDED: 504,
};

async function readJson(req: IncomingMessage): Promise<Record<string, string>> {
  let body = '';
  for await (const chunk of req) body += chunk;
  return JSON.parse(body || '{}') as Record<string, string>;
}

function reply(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}

async function route(req: IncomingMessage, res: ServerResponse): Promise<void> {
  const url = new URL(req.url ?? '/', 'http://gateway');
  if (req.method === 'POST' && url.pathname === '/send') {
    const body = await readJson(req);
    // SendMessage is idempotent through clientMsgId, so the client retries it when a replica
    // is unavailable, and so can the app after a timeout.
    const { message, duplicate } = await messages.sendMessage({
      clientMsgId: body.clientMsgId ?? '',
      senderId: body.from ?? '',
      conversationType: ConversationType.CONVERSATION_TYPE_SINGLE,
      recipientId: body.to ?? '',
      contentType: ContentType.CONTENT_TYPE_TEXT,
      content: Buffer.from(body.text ?? '', 'utf8'),
    });
    return reply(res, 200, { seq: message?.seq, serverMsgId: message?.serverMsgId, duplicate });
  }
  if (req.method === 'GET' && url.pathname === '/conversations') {
    const list = await conversations.listConversations({
      userId: url.searchParams.get('user') ?? '',
      pageSize: 50,
      pageToken: url.searchParams.get('page') ?? '',
    });
    return reply(res, 200, {
      totalUnread: list.totalUnread,
      next: list.nextPageToken,
      conversations: list.conversations.map((c) => ({
        id: c.conversationId,
        peer: c.peerId,
        unread: c.unreadCount,
        pinned: c.pinned,
      })),
    });
  }
  reply(res, 404, { reason: 'NO_ROUTE' });
}

const server = createServer((req, res) => {
  route(req, res).catch((err: unknown) => {
    const decoded = decodeError(err);
    if (!decoded) return reply(res, 400, { reason: 'BAD_REQUEST' });
    reply(res, HTTP_STATUS[decoded.codeName] ?? 500, {
      reason: decoded.reason || decoded.codeName,
      field: decoded.metadata.field,
    });
  });
});

server.listen(Number(process.env.PORT ?? 8080), () => {
  process.stdout.write(`gateway on :${process.env.PORT ?? 8080}\n`);
});
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    server.close();
    messages.close();
    conversations.close();
  });
}
