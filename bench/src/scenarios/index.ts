import type { Scenario } from '../scenario';
import { ceiling, rawBatch, rawTxn } from './baselines';
import { list } from './conversation';
import { listFloor, listFloorDirect, sendFloor } from './floor';
import { pull, send, sendEvents, sendGroupSize, sendHotGroup } from './message';
import { batchStatus, heartbeat } from './presence';
import { getUser } from './user';

/** Every scenario, in the order a full run takes them (baselines first). */
export const SCENARIOS: Scenario[] = [
  ceiling,
  rawTxn,
  rawBatch,
  getUser,
  send,
  sendFloor,
  sendEvents,
  sendHotGroup,
  sendGroupSize,
  pull,
  list,
  listFloor,
  listFloorDirect,
  heartbeat,
  batchStatus,
];
