import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { FrameSplitter, frameBytes, joinFrames, splitFrames } from '../../src/raft/snapshot-frames.js';

/** Cuts `bytes` at the given points (sorted, deduplicated). */
function cut(bytes: Uint8Array, points: number[]): Uint8Array[] {
  const at = [...new Set(points.map((p) => p % (bytes.byteLength + 1)))].sort((a, b) => a - b);
  const out: Uint8Array[] = [];
  let from = 0;
  for (const p of [...at, bytes.byteLength]) {
    out.push(bytes.subarray(from, p));
    from = p;
  }
  return out;
}

describe('FrameSplitter', () => {
  it('returns the bodies framed, whatever chunks the bytes arrive in', () => {
    fc.assert(
      fc.property(
        fc.array(fc.uint8Array({ maxLength: 300 }), { maxLength: 12 }),
        fc.array(fc.nat(), { maxLength: 40 }),
        (bodies, points) => {
          const image = joinFrames(bodies);
          const splitter = new FrameSplitter();
          const got: Buffer[] = [];
          for (const chunk of cut(image, points)) {
            // The caller reuses its chunk afterwards: bodies must not depend on it.
            const reused = Buffer.from(chunk);
            for (const body of splitter.push(reused)) got.push(Buffer.from(body));
            reused.fill(0xee);
          }
          splitter.end();
          expect(got.map((b) => [...b])).toEqual(bodies.map((b) => [...b]));
        },
      ),
      { seed: 21, numRuns: 300 },
    );
  });

  it('refuses a frame whose bytes changed, and a stream cut inside a header or a body', () => {
    const image = joinFrames([Buffer.from('first frame'), Buffer.from('second frame')]);
    const damaged = Buffer.from(image);
    damaged[image.byteLength - 3] ^= 1;
    expect(() => splitFrames(damaged)).toThrow(/checksum/);
    for (const length of [4, frameBytes(Buffer.from('first frame')).byteLength + 5, image.byteLength - 1]) {
      const splitter = new FrameSplitter();
      splitter.push(image.subarray(0, length));
      expect(() => splitter.end()).toThrow(/cut short/);
    }
  });
});
