import { createConversationServiceClient } from '@im-repo/proto/conversation';
import { createGroupServiceClient } from '@im-repo/proto/group';
import {
  ContentType,
  ConversationType,
  createMessageServiceClient,
  type SendMessageRequest,
} from '@im-repo/proto/message';
import { createUserServiceClient } from '@im-repo/proto/user';
import { decodeGrpcError } from '@im-repo/testing';
import type { Cluster } from './cluster';
import { sleep } from './process';

export type Clients = ReturnType<typeof makeClients>;

/** Public-API clients, as a gateway holds them: each over every replica of its service. */
export function makeClients(cluster: Cluster) {
  const options = { timeoutMs: 10_000 };
  return {
    user: createUserServiceClient(cluster.address('user'), options),
    group: createGroupServiceClient(cluster.address('group'), options),
    message: createMessageServiceClient(cluster.address('message'), options),
    conversation: createConversationServiceClient(cluster.address('conversation'), options),
  };
}

export function closeClients(clients: Clients): void {
  for (const c of Object.values(clients)) c.close();
}

/** Setup calls are not retried blindly (a second Register fails), so they wait long. */
const SETUP = { timeoutMs: 60_000 };

/** Retries a setup call through faults of the moment (a restarting peer), bounded. */
export async function retrying<T>(what: string, call: () => Promise<T>, boundMs = 60_000) {
  const deadline = Date.now() + boundMs;
  for (;;) {
    try {
      return await call();
    } catch (err) {
      if (Date.now() > deadline) {
        throw new Error(`${what}: ${decodeGrpcError(err).message}`, { cause: err });
      }
      await sleep(200);
    }
  }
}

export interface Target {
  senderId: string;
  conversationType: ConversationType;
  recipientId: string;
  /** Everyone whose conversation row must reach max_seq. */
  participants: string[];
}

export async function registerUsers(clients: Clients, tag: string, n: number) {
  const ids: string[] = [];
  for (let i = 0; i < n; i++) {
    const { user } = await retrying('Register', () =>
      clients.user.register(
        {
          userId: '',
          username: `${tag}u${i}`,
          password: 'chaos-password',
          nickname: '',
          avatarUrl: '',
        },
        SETUP,
      ),
    );
    ids.push(user!.userId);
  }
  return ids;
}

export async function createGroup(clients: Clients, ownerId: string, memberIds: string[]) {
  const { group } = await retrying('CreateGroup', () =>
    clients.group.createGroup(
      {
        groupId: '',
        ownerId,
        name: 'chaos',
        avatarUrl: '',
        intro: '',
        memberIds,
      },
      SETUP,
    ),
  );
  return group!.groupId;
}

/** Who talks to whom: single chats between pairs and a few busy groups. */
export async function buildTargets(clients: Clients, tag: string): Promise<Target[]> {
  const users = await registerUsers(clients, tag, 40);
  const targets: Target[] = [];
  for (let i = 0; i + 1 < 24; i += 2) {
    const [a, b] = [users[i]!, users[i + 1]!];
    for (const [s, r] of [
      [a, b],
      [b, a],
    ] as const) {
      targets.push({
        senderId: s,
        conversationType: ConversationType.CONVERSATION_TYPE_SINGLE,
        recipientId: r,
        participants: [a, b],
      });
    }
  }
  for (let g = 0; g < 4; g++) {
    const members = users.slice(24 + g * 4, 24 + g * 4 + 4).concat(users.slice(g * 3, g * 3 + 4));
    const groupId = await createGroup(clients, members[0]!, members.slice(1));
    for (const m of members) {
      targets.push({
        senderId: m,
        conversationType: ConversationType.CONVERSATION_TYPE_GROUP,
        recipientId: groupId,
        participants: members,
      });
    }
  }
  return targets;
}

export interface Ack {
  request: SendMessageRequest;
  conversationId: string;
  seq: number;
  participants: string[];
  /** When the acknowledgement arrived, and the message's sent_at. */
  at: string;
}

/** Every acknowledgement this run received, by (sender, client_msg_id). */
export class Ledger {
  readonly acks = new Map<string, Ack>();
  readonly conversations = new Map<string, Set<string>>();
  /** Two acknowledgements of one key that disagree. */
  readonly conflicts: string[] = [];
  /**
   * Acknowledged sends the store checks cannot read back (a dismissed group's): only their
   * event is checked.
   */
  readonly eventOnly = new Map<string, { conversationId: string; seq: number }>();

  record(
    request: SendMessageRequest,
    conversationId: string,
    seq: number,
    target: Target,
    sentAt?: Date,
  ) {
    const key = `${request.senderId}|${request.clientMsgId}`;
    const before = this.acks.get(key);
    if (before && (before.seq !== seq || before.conversationId !== conversationId)) {
      this.conflicts.push(`${key}: ${before.seq} then ${seq}`);
    }
    this.acks.set(key, {
      request,
      conversationId,
      seq,
      participants: target.participants,
      at: `${new Date().toISOString()} sent ${sentAt?.toISOString()}`,
    });
    let people = this.conversations.get(conversationId);
    if (!people) this.conversations.set(conversationId, (people = new Set()));
    for (const p of target.participants) people.add(p);
  }
}

export interface LoadStats {
  acknowledged: number;
  /** Messages acknowledged only after one or more failed attempts. */
  retried: number;
  failedAttempts: number;
  errorCodes: Map<string, number>;
  /** Read-your-writes probes: GetMaxSeqs right after an acknowledgement, and how many were below it. */
  probes: number;
  staleAfterAck: number;
}

/**
 * Closed-loop senders: each sends, waits for the acknowledgement, and retries a failed send
 * with the same client_msg_id until it is acknowledged, as a real client does.
 */
export class Load {
  readonly stats: LoadStats = {
    acknowledged: 0,
    retried: 0,
    failedAttempts: 0,
    errorCodes: new Map(),
    probes: 0,
    staleAfterAck: 0,
  };
  private stopping = false;
  private readonly workers: Promise<void>[] = [];

  constructor(
    private readonly clients: Clients,
    private readonly ledger: Ledger,
    private readonly targets: Target[],
    private readonly tag: string,
  ) {}

  start(concurrency: number): void {
    for (let w = 0; w < concurrency; w++) {
      this.workers.push(this.worker(w, this.targets[w % this.targets.length]!));
    }
  }

  private async worker(w: number, target: Target): Promise<void> {
    for (let n = 0; !this.stopping; n++) {
      const request: SendMessageRequest = {
        clientMsgId: `${this.tag}-${w}-${n}`,
        senderId: target.senderId,
        conversationType: target.conversationType,
        recipientId: target.recipientId,
        contentType: ContentType.CONTENT_TYPE_TEXT,
        content: Buffer.from(`chaos ${this.tag} ${w} ${n}`),
      };
      for (let attempt = 0; ; attempt++) {
        try {
          const { message } = await this.clients.message.sendMessage(request);
          this.ledger.record(
            request,
            message!.conversationId,
            message!.seq,
            target,
            message!.sentAt,
          );
          this.stats.acknowledged++;
          if (attempt > 0) this.stats.retried++;
          if (n % 10 === 0) await this.probe(message!.conversationId, message!.seq);
          break;
        } catch (err) {
          this.stats.failedAttempts++;
          const code = decodeGrpcError(err).codeName ?? String(decodeGrpcError(err).code);
          this.stats.errorCodes.set(code, (this.stats.errorCodes.get(code) ?? 0) + 1);
          await sleep(Math.min(1000, 50 * 2 ** Math.min(attempt, 5)) * (0.5 + Math.random()));
        }
      }
    }
  }

  /** Whether a reader sees the sender's own message right after its acknowledgement. */
  private async probe(conversationId: string, seq: number): Promise<void> {
    try {
      const { maxSeqs } = await this.clients.message.getMaxSeqs({
        conversationIds: [conversationId],
      });
      this.stats.probes++;
      if ((maxSeqs[conversationId] ?? 0) < seq) this.stats.staleAfterAck++;
    } catch {
      // A fault of the moment: no answer, nothing to judge.
    }
  }

  /** Stops starting new sends and waits until every send begun is acknowledged. */
  async stop(boundMs = 120_000): Promise<void> {
    this.stopping = true;
    let timer: NodeJS.Timeout | undefined;
    const bound = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () =>
          reject(
            new Error(
              `sends still unacknowledged after ${boundMs} ms; errors: ${[...this.stats.errorCodes]}`,
            ),
          ),
        boundMs,
      );
    });
    try {
      await Promise.race([Promise.all(this.workers), bound]);
    } finally {
      clearTimeout(timer);
    }
  }
}

/**
 * Reads max_seqs and heads the whole run, as a syncing client does: they must never go back,
 * and a max_seq must always be readable with PullMessages.
 */
export class Poller {
  readonly seen = new Map<string, number>();
  readonly backwards: string[] = [];
  readonly unreadable: string[] = [];
  readonly headMismatch: string[] = [];
  rounds = 0;
  private running = true;
  private readonly done: Promise<void>;

  constructor(
    private readonly clients: Clients,
    private readonly ledger: Ledger,
  ) {
    this.done = this.loop();
  }

  private observe(conversationId: string, maxSeq: number, source: string) {
    const before = this.seen.get(conversationId) ?? 0;
    if (maxSeq < before) this.backwards.push(`${conversationId} ${source}: ${before} -> ${maxSeq}`);
    else this.seen.set(conversationId, maxSeq);
  }

  private async loop(): Promise<void> {
    while (this.running) {
      const ids = [...this.ledger.conversations.keys()];
      if (ids.length > 0) {
        try {
          const { maxSeqs } = await this.clients.message.getMaxSeqs({ conversationIds: ids });
          for (const [id, m] of Object.entries(maxSeqs)) this.observe(id, m, 'GetMaxSeqs');
          const { heads } = await this.clients.message.getConversationHeads({
            conversationIds: ids,
            maxSeqOnlyIds: [],
          });
          for (const h of heads) {
            this.observe(h.conversationId, h.maxSeq, 'head');
            if (h.lastMessage?.seq !== h.maxSeq) {
              this.headMismatch.push(`${h.conversationId}: ${h.maxSeq} / ${h.lastMessage?.seq}`);
            }
          }
          // What a max_seq promises must be readable right away.
          const id = ids[this.rounds % ids.length]!;
          const m = maxSeqs[id] ?? 0;
          if (m > 0) {
            const reader = [...this.ledger.conversations.get(id)!][0]!;
            const { messages } = await this.clients.message.pullMessages({
              userId: reader,
              conversationId: id,
              beginSeq: m,
              endSeq: m,
              limit: 1,
              descending: false,
            });
            if (messages[0]?.seq !== m) this.unreadable.push(`${id}: max_seq ${m}`);
          }
        } catch {
          // A fault of the moment; the next round reads again.
        }
      }
      this.rounds++;
      await sleep(50);
    }
  }

  async stop(): Promise<void> {
    this.running = false;
    await this.done;
  }
}
