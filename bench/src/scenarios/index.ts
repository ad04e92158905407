import type { Scenario } from '../scenario';
import { ceiling, rawBatch, rawTxn } from './baselines';
import { list } from './conversation';
import { getUserFloor, listFloorDirect, listFloorHop, publishFloor, sendFloorSql } from './floors';
import { sendFloor, sendHotGroupFloor } from './send-floor';
import { pull, send, sendEvents, sendGroupSize, sendHotGroup } from './message';
import { batchStatus, heartbeat } from './presence';
import { getUser } from './user';

/** Every scenario, in the order a full run takes them (baselines first). */
export const SCENARIOS: Scenario[] = [
  ceiling,
  rawTxn,
  rawBatch,
  sendFloorSql,
  sendFloor,
  sendHotGroupFloor,
  listFloorHop,
  listFloorDirect,
  getUserFloor,
  publishFloor,
  getUser,
  send,
  sendEvents,
  sendHotGroup,
  sendGroupSize,
  pull,
  list,
  heartbeat,
  batchStatus,
];
