import { ConversationType, ContentType, createMessageServiceClient } from '@im-repo/proto/message';
import { decodeGrpcError, GrpcStatus, waitFor } from '@im-repo/testing';
import { expect } from 'chai';
import { Cluster, SHUTDOWN_TIMEOUT_MS } from './harness/cluster';
import { EventVerifier, type EventVerdict } from './harness/events';
import {
  buildTargets,
  closeClients,
  createGroup,
  Ledger,
  Load,
  makeClients,
  Poller,
  registerUsers,
  retrying,
  type Clients,
  type Target,
} from './harness/load';
import { sleep, step } from './harness/process';
import { Verifier, type Verdict } from './harness/verify';

/** Sends in flight at once, across single and group chats. */
const CONCURRENCY = 300;
/** How long sends may take to flow at all (a loaded machine is slow, not wrong). */
const FLOW_BOUND_MS = 180_000;

describe('chaos: faults under closed-loop load', function () {
  let cluster: Cluster;
  let clients: Clients;
  let ledger: Ledger;
  let targets: Target[];
  let verifier: Verifier;
  let poller: Poller;
  let events: EventVerifier;
  const lines: string[] = [];
  /** Acknowledgements covered by an earlier check. */
  let acksVerified = 0;

  before(async function () {
    this.timeout(300_000);
    cluster = await Cluster.start();
    step('dependencies and services up');
    clients = makeClients(cluster);
    targets = await buildTargets(clients, `c${Date.now().toString(36)}`);
    ledger = new Ledger();
    verifier = new Verifier(clients, ledger);
    poller = new Poller(clients, ledger);
    events = new EventVerifier(() => cluster.nats.url);
    step('users and groups created');
  });

  after(async function () {
    this.timeout(60_000);
    await poller?.stop();
    if (clients) closeClients(clients);
    // Errors the services logged, for whoever reads a failed run.
    for (const r of Object.values(cluster?.replicas ?? {}).flat()) {
      const errors = (r.proc?.output ?? '').split('\n').filter((l) => l.includes('"error"'));
      if (errors.length > 0) step(`${r.name} logged errors, e.g. ${errors[0]!.slice(0, 600)}`);
    }
    await cluster?.stop();
    process.stdout.write(`\n${lines.join('\n')}\n`);
  });

  /**
   * Runs the load, lets it flow, injects the fault (which returns once the system is back),
   * lets the load run on, waits for every send to be acknowledged, then checks the store.
   */
  async function scenario(
    name: string,
    fault: (load: Load) => Promise<void>,
    loadClients: Clients = clients,
  ): Promise<{ load: Load; verdict: Verdict; eventVerdict: EventVerdict }> {
    const tag = name.split(' ')[0]!.replace(/\W/g, '');
    const backwardsBefore = poller.backwards.length;
    const load = new Load(loadClients, ledger, targets, `${tag}-${Date.now().toString(36)}`);
    load.start(CONCURRENCY);
    step(`${name}: load started`);
    try {
      await waitFor(() => load.stats.acknowledged >= CONCURRENCY, {
        timeoutMs: FLOW_BOUND_MS,
        what: 'the load to flow',
      });
      step(`${name}: fault (${load.stats.acknowledged} acknowledged so far)`);
      await fault(load);
      step(`${name}: recovered (${load.stats.acknowledged} acknowledged so far)`);
      const flowing = load.stats.acknowledged;
      await waitFor(() => load.stats.acknowledged >= flowing + CONCURRENCY, {
        timeoutMs: FLOW_BOUND_MS,
        what: 'the load to flow again after the fault',
      });
    } finally {
      // A failed scenario's senders must not run on into the next one.
      await load.stop();
    }
    step(`${name}: load stopped, checking`);
    const verdict = await verifier.verify({ resendSample: 200, convergeBoundMs: 60_000 });
    const ev = await events.verify(ledger, verifier.stored, 60_000);
    step(`${name}: ${ev.published} message.created events read`);
    for (const [what, list] of Object.entries({
      missing: ev.missing,
      duplicated: ev.duplicated,
      out_of_order: ev.outOfOrder,
      phantom: ev.phantom,
    })) {
      if (list.length > 0)
        step(`${name}: events ${what}, e.g.\n        ${list.slice(0, 4).join('\n        ')}`);
    }
    const newAcks = ledger.acks.size - acksVerified;
    acksVerified = ledger.acks.size;
    const { stats } = load;
    const line =
      `chaos ${name}: acknowledged=${stats.acknowledged} retried=${stats.retried}` +
      ` stored=${verdict.stored} lost=${verdict.lost.length} gaps=${verdict.gaps.length}` +
      ` duplicates=${verdict.duplicates.length} converged_in=${verdict.convergeSeconds.toFixed(1)}s` +
      ` visible_in=${verdict.visibleSeconds.toFixed(1)}s` +
      ` failed_attempts=${stats.failedAttempts}` +
      ` stale_reads=${stats.staleAfterAck}/${stats.probes}` +
      ` events: published=${ev.published} missing=${ev.missing.length}` +
      ` duplicated=${ev.duplicated.length} out_of_order=${ev.outOfOrder.length}` +
      ` phantom=${ev.phantom.length} in_stream_in=${ev.seconds.toFixed(1)}s` +
      (stats.errorCodes.size ? ` (${[...stats.errorCodes].map(([c, n]) => `${c}:${n}`)})` : '');
    lines.push(line);
    process.stdout.write(`      ${line}\n`);

    const few = (list: string[]) => list.slice(0, 5);
    expect(few(verdict.lost), 'acknowledged but not stored at its seq').to.deep.equal([]);
    expect(few(verdict.gaps), 'seq gaps').to.deep.equal([]);
    expect(few(verdict.duplicates), 'stored twice').to.deep.equal([]);
    expect(few(verdict.badResends), 'resends not answered as duplicates').to.deep.equal([]);
    expect(few(verdict.disagreements), 'max_seq / heads / pull disagree').to.deep.equal([]);
    expect(few(verdict.unconverged), 'conversation rows behind max_seq').to.deep.equal([]);
    expect(few(poller.backwards.slice(backwardsBefore)), 'max_seq went back').to.deep.equal([]);
    expect(few(poller.unreadable), 'max_seq ahead of what can be read').to.deep.equal([]);
    expect(few(poller.headMismatch), 'head max_seq != its last message').to.deep.equal([]);
    // Every stored message was acknowledged, once: nothing stored that no client was told of.
    expect(verdict.stored, 'messages stored since the last check').to.equal(newAcks);
    expect(few(ev.missing), 'acknowledged sends without their message.created').to.deep.equal([]);
    expect(few(ev.duplicated), 'message.created twice in the stream').to.deep.equal([]);
    expect(few(ev.outOfOrder), 'message.created not in seq order').to.deep.equal([]);
    expect(few(ev.phantom), 'events of no stored message').to.deep.equal([]);
    return { load, verdict, eventVerdict: ev };
  }

  it('1. kill -9 of one message replica mid-load, then its restart', async () => {
    await scenario('1 kill-9-message-replica', async () => {
      const replica = cluster.replicas.message[1]!;
      await replica.proc!.kill();
      await sleep(3000);
      await replica.start();
    });
  });

  it('2. kill -9 of the conversation service for several seconds', async () => {
    // A chat whose only message is sent during the outage: no later send can bring its rows
    // up to date, only the outbox can (the busy chats would hide a dropped record).
    const tag = `q${Date.now().toString(36)}`;
    const [quiet, peer] = await registerUsers(clients, tag, 2);
    await scenario('2 kill-9-conversation', async () => {
      const replicas = cluster.replicas.conversation;
      await Promise.all(replicas.map((r) => r.proc!.kill()));
      const request = {
        clientMsgId: `${tag}-only`,
        senderId: quiet!,
        conversationType: ConversationType.CONVERSATION_TYPE_SINGLE,
        recipientId: peer!,
        contentType: ContentType.CONTENT_TYPE_TEXT,
        content: Buffer.from('sent while the conversation service is down'),
      };
      const res = await retrying('send', () => clients.message.sendMessage(request));
      ledger.record(request, res.message!.conversationId, res.message!.seq, {
        senderId: quiet!,
        conversationType: ConversationType.CONVERSATION_TYPE_SINGLE,
        recipientId: peer!,
        participants: [quiet!, peer!],
      });
      await sleep(5000);
      await Promise.all(replicas.map((r) => r.start()));
    });
  });

  it('3. Redis FLUSHALL mid-load', async () => {
    await scenario('3 redis-flushall', async () => {
      expect(await cluster.redis.cli('FLUSHALL')).to.equal('OK');
      await sleep(1000);
    });
  });

  it('4. Redis killed, then restarted (empty)', async () => {
    await scenario('4 redis-kill-restart', async () => {
      await cluster.redis.proc!.kill();
      await sleep(4000);
      await cluster.redis.start();
    });
  });

  it('5. Redis frozen ~20 s across RemoveMembers, MuteMember and DismissGroup', async () => {
    const tag = `f${Date.now().toString(36)}`;
    const [owner, removed, muted, stays, owner2, dismissedMember] = await registerUsers(
      clients,
      tag,
      6,
    );
    const group = await createGroup(clients, owner!, [removed!, muted!, stays!]);
    const doomed = await createGroup(clients, owner2!, [dismissedMember!]);
    let n = 0;
    const send = (senderId: string, groupId: string, clientMsgId = `${tag}-${n++}`) =>
      clients.message.sendMessage({
        clientMsgId,
        senderId,
        conversationType: ConversationType.CONVERSATION_TYPE_GROUP,
        recipientId: groupId,
        contentType: ContentType.CONTENT_TYPE_TEXT,
        content: Buffer.from('freeze'),
      });
    // Sends to the group that lives on are checked like the load's; the dismissed group's
    // messages cannot be read back by anyone once it is gone.
    const record = async (senderId: string) => {
      const clientMsgId = `${tag}-${n++}`;
      const res = await retrying('send', () => send(senderId, group, clientMsgId));
      ledger.record(
        {
          clientMsgId,
          senderId,
          conversationType: ConversationType.CONVERSATION_TYPE_GROUP,
          recipientId: group,
          contentType: ContentType.CONTENT_TYPE_TEXT,
          content: Buffer.from('freeze'),
        },
        res.message!.conversationId,
        res.message!.seq,
        {
          senderId,
          conversationType: ConversationType.CONVERSATION_TYPE_GROUP,
          recipientId: group,
          participants: [owner!, stays!],
        },
      );
    };
    // Everyone sends once first, so every cache that could answer later is warm.
    for (const u of [removed!, muted!, stays!]) await record(u);
    const doomedId = `${tag}-${n++}`;
    const doomedSend = await retrying('send', () => send(dismissedMember!, doomed, doomedId));
    ledger.eventOnly.set(`${dismissedMember!}|${doomedId}`, {
      conversationId: doomedSend.message!.conversationId,
      seq: doomedSend.message!.seq,
    });

    await scenario('5 redis-sigstop-20s', async () => {
      const redis = cluster.redis.proc!;
      redis.signal('SIGSTOP');
      const frozenAt = Date.now();
      try {
        await retrying('RemoveMembers', () =>
          clients.group.removeMembers({ operatorId: owner!, groupId: group, userIds: [removed!] }),
        );
        await retrying('MuteMember', () =>
          clients.group.muteMember({
            operatorId: owner!,
            groupId: group,
            userId: muted!,
            durationSeconds: 3600,
          }),
        );
        await retrying('DismissGroup', () =>
          clients.group.dismissGroup({ operatorId: owner2!, groupId: doomed }),
        );
        await sleep(Math.max(0, 20_000 - (Date.now() - frozenAt)));
      } finally {
        redis.signal('SIGCONT');
      }
    });

    // After the thaw the caches must not speak for the old membership, at once and later.
    for (const round of [0, 1]) {
      if (round === 1) await sleep(2000);
      for (const [who, where] of [
        [removed!, group],
        [muted!, group],
        [dismissedMember!, doomed],
        [owner2!, doomed],
      ] as const) {
        const err = await retrying('a refused send', async () => {
          const e = await send(who, where).then(() => undefined, decodeGrpcError);
          if (e?.code === GrpcStatus.UNAVAILABLE) throw new Error(e.message);
          return e;
        });
        expect(err, `${who} still sends to ${where} after the thaw (round ${round})`).to.not.equal(
          undefined,
        );
      }
    }
    await record(stays!);
  });

  it('6. MariaDB kill -9, then restart (crash recovery)', async () => {
    await scenario('6 mariadb-kill-9-restart', async () => {
      await cluster.db.proc!.kill();
      await sleep(2000);
      await cluster.db.start();
    });
  });

  it('7. a proxy resets MariaDB connections, some right after COMMIT went out', async () => {
    await scenario('7 mysql-connection-resets', async () => {
      cluster.proxy.setFaulty(true);
      await waitFor(() => cluster.proxy.commitResets >= 20, {
        timeoutMs: 60_000,
        what: 'COMMITs cut off',
      });
      await sleep(3000);
      cluster.proxy.setFaulty(false);
    });
    process.stdout.write(
      `      proxy: ${cluster.proxy.commitResets} connections cut at COMMIT (${cluster.proxy.commitsDropped} of those COMMITs never reached MariaDB), ${cluster.proxy.randomResets} connections reset\n`,
    );
  });

  it('8. NATS killed (kill -9) under load, restarted after 5 s', async () => {
    const { load } = await scenario('8 nats-kill-9-restart', async () => {
      await cluster.nats.proc!.kill();
      await sleep(5000);
      await cluster.nats.start();
    });
    // Calls never wait for NATS: the events wait in the outbox. A client deadline passing on a
    // loaded machine is slowness, not NATS (scenarios 3 and 4 count the same way).
    const slow = load.stats.errorCodes.get('DEADLINE_EXCEEDED') ?? 0;
    expect(load.stats.failedAttempts - slow, 'sends that failed while NATS was down').to.equal(0);
  });

  it('9. SIGTERM of one of two message replicas: calls move over at once, it exits when drained', async () => {
    const replica = cluster.replicas.message[1]!;
    let exitSeconds = 0;
    // Without the channel's own retries, a call the drain cut would reach the sender as a
    // failure (with them, it would be retried unseen and a cut drain would pass).
    const once = {
      ...clients,
      message: createMessageServiceClient(cluster.address('message'), {
        timeoutMs: 10_000,
        maxAttempts: 1,
      }),
    };
    const { load } = await scenario(
      '9 sigterm-message-replica',
      async () => {
        const proc = replica.proc!;
        const started = Date.now();
        proc.signal('SIGTERM');
        await proc.exited;
        exitSeconds = (Date.now() - started) / 1000;
        // A replacement on the same ports (gRPC and metrics) starts at once.
        await replica.start();
      },
      once,
    ).finally(() => once.message.close());
    process.stdout.write(`      SIGTERM to exit: ${exitSeconds.toFixed(2)} s\n`);
    // Calls the drain cut (UNAVAILABLE, CANCELLED) must be none; a client deadline passing on
    // a loaded machine is slowness, not the drain (the exit time below catches a stalled one).
    const slow = load.stats.errorCodes.get('DEADLINE_EXCEEDED') ?? 0;
    expect(load.stats.failedAttempts - slow, 'sends the drain failed').to.equal(0);
    expect(exitSeconds, 'exit waited for the shutdown deadline').to.be.below(
      SHUTDOWN_TIMEOUT_MS / 1000 / 2,
    );
  });
});
