import { describe, expect, it } from 'vitest';
import { decodeConfChange } from '../../src/raft/core/index.js';
import {
  bootstrapEntries,
  deriveClusterId,
  formatInitialCluster,
  parseInitialCluster,
} from '../../src/raft/runtime/cluster-config.js';
import { decodePayload, encodeAnnounce, encodeProposal } from '../../src/raft/runtime/entry-payload.js';
import { imageChunks, restoreImage } from '../../src/raft/runtime/snapshot-image.js';

describe('initial cluster', () => {
  it('parses both forms to the same members and derives one cluster id whatever the order', () => {
    const a = parseInitialCluster('n2=127.0.0.1:7002, n1=127.0.0.1:7001');
    const b = parseInitialCluster({ n1: '127.0.0.1:7001', n2: '127.0.0.1:7002' });
    expect(formatInitialCluster(a)).toBe('n1=127.0.0.1:7001,n2=127.0.0.1:7002');
    expect(deriveClusterId(a)).toBe(deriveClusterId(b));
    expect(deriveClusterId(a)).not.toBe(deriveClusterId(parseInitialCluster('n1=127.0.0.1:7001')));
  });

  it('rejects malformed lists with a reason', () => {
    expect(() => parseInitialCluster('')).toThrow(/empty/);
    expect(() => parseInitialCluster('n1')).toThrow(/expected id=host:port/);
    expect(() => parseInitialCluster('n1=127.0.0.1')).toThrow(/no port/);
    expect(() => parseInitialCluster('n1=a:1,n1=b:2')).toThrow(/twice/);
    expect(() => parseInitialCluster('n1=a:1,n2=a:1')).toThrow(/one address twice/);
    expect(() => parseInitialCluster('bad id=a:1')).toThrow(/invalid/);
  });

  it('bootstraps with one committed addVoter per member, carrying its address', () => {
    const entries = bootstrapEntries(parseInitialCluster('n2=h:2,n1=h:1'));
    expect(entries.map((e) => [e.index, e.term, e.type])).toEqual([
      [1, 1, 'confChange'],
      [2, 1, 'confChange'],
    ]);
    expect(entries.map((e) => decodeConfChange(e.data))).toEqual([
      { type: 'addVoter', nodeId: 'n1', context: '{"peerAddr":"h:1","clientAddr":null}' },
      { type: 'addVoter', nodeId: 'n2', context: '{"peerAddr":"h:2","clientAddr":null}' },
    ]);
  });
});

describe('entry payloads and snapshot images', () => {
  it('round-trips proposals, announcements and no-ops', () => {
    const token = new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8]);
    const p = decodePayload(encodeProposal(token, 42, new Uint8Array([9, 9])));
    expect(p.kind === 'proposal' && [Buffer.from(p.token), p.seq, Buffer.from(p.command)]).toEqual([
      Buffer.from(token),
      42,
      Buffer.from([9, 9]),
    ]);
    expect(decodePayload(encodeAnnounce('n1', '127.0.0.1:7101'))).toEqual({
      kind: 'announce',
      id: 'n1',
      clientAddr: '127.0.0.1:7101',
    });
    expect(decodePayload(new Uint8Array())).toEqual({ kind: 'noop' });
    expect(decodePayload(new Uint8Array([77, 1]))).toEqual({ kind: 'unknown' });
  });

  it('decodes a snapshot image from its parts or from one blob alike', () => {
    const header = { members: { n1: { peerAddr: 'h:1', clientAddr: null } } };
    let state = new Uint8Array([1, 2, 3]);
    const sm = {
      apply: () => undefined,
      snapshot: () => state,
      restore: (image: Uint8Array) => {
        state = Uint8Array.from(image);
      },
    };
    const parts = [...imageChunks(header, sm)];
    for (const data of [parts, Buffer.concat(parts)]) {
      state = new Uint8Array();
      expect(restoreImage(sm, { index: 1, term: 1 }, data)).toEqual(header);
      expect([...state]).toEqual([1, 2, 3]);
    }
    expect(() =>
      restoreImage(sm, { index: 1, term: 1 }, new Uint8Array([0, 0, 0, 3, 1, 2, 3, 4, 5, 6, 7])),
    ).toThrow(/checksum|cut short|kvkit header/);
  });
});
