import { expect } from 'chai';
import { groupConversationId, parseConversationId, singleConversationId } from '../src';

describe('conversation ids', () => {
  it('derives single chat ids in byte order of the two users, note-to-self included', () => {
    expect(singleConversationId('bob', 'alice')).to.equal('si_alice_bob');
    expect(singleConversationId('alice', 'bob')).to.equal('si_alice_bob');
    // Byte order, not locale order: uppercase sorts before lowercase.
    expect(singleConversationId('b', 'B')).to.equal('si_B_b');
    expect(singleConversationId('me', 'me')).to.equal('si_me_me');
    expect(groupConversationId('g-1')).to.equal('sg_g-1');
  });

  it('parses canonical ids', () => {
    expect(parseConversationId('si_a_b')).to.deep.equal({
      type: 'single',
      conversationId: 'si_a_b',
      userIds: ['a', 'b'],
    });
    expect(parseConversationId('sg_g-1')).to.deep.equal({
      type: 'group',
      conversationId: 'sg_g-1',
      groupId: 'g-1',
    });
  });

  for (const bad of [
    '',
    'si_x',
    'sg_',
    'zz_a_b',
    'si_b_a',
    'si_a_b_c',
    'sg_a_b',
    'si__b',
    'si_a_',
    'sg_é',
    `sg_${'x'.repeat(65)}`,
    'SI_a_b',
  ]) {
    it(`rejects ${JSON.stringify(bad).slice(0, 24)}`, () => {
      expect(parseConversationId(bad)).to.equal(undefined);
    });
  }
});
