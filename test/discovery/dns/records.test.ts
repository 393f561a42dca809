/** The record builder: kept between builds, it always equals a build from scratch. */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  buildRecordTable,
  type DnsService,
  RecordBuilder,
  type RecordTable,
} from '../../../src/discovery/dns/records.js';

const NAMES = ['web', 'api', 'Web', 'tasks', 'db'];
const NETWORKS = ['front', 'back', 'web.front'];

const service = fc.record({
  id: fc.constantFrom('s1', 's2', 's3', 's4', 's5', 's6'),
  name: fc.constantFrom(...NAMES),
  endpointMode: fc.constantFrom('vip' as const, 'dnsrr' as const),
  createdAt: fc.constantFrom('2026-01-01', '2026-01-02'),
  vips: fc.array(
    fc.record({
      network: fc.constantFrom(...NETWORKS),
      address: fc.integer({ min: 1, max: 9 }).map((i) => `10.0.0.${i}`),
    }),
    { maxLength: 2 },
  ),
  tasks: fc.array(
    fc.record({
      id: fc.constantFrom('t1', 't2', 't3'),
      slot: fc.integer({ min: 1, max: 3 }),
      addresses: fc.array(
        fc.record({
          network: fc.constantFrom(...NETWORKS),
          address: fc.oneof(
            fc.integer({ min: 1, max: 9 }).map((i) => `10.1.0.${i}`),
            fc.integer({ min: 1, max: 9 }).map((i) => `fd00::${i}`),
          ),
        }),
        { maxLength: 2 },
      ),
    }),
    { maxLength: 3 },
  ),
}) as fc.Arbitrary<DnsService>;

/** Every name a table could hold for these services, with what it answers. */
function view(table: RecordTable, services: DnsService[]): Record<string, unknown> {
  const names = new Set<string>();
  for (const s of services) {
    const n = s.name.toLowerCase();
    names.add(n).add(`tasks.${n}`);
    for (const net of NETWORKS) names.add(`${n}.${net}`).add(`tasks.${n}.${net}`);
    for (const t of s.tasks) {
      names.add(`${n}.${t.slot}.${t.id}`);
      for (const net of NETWORKS) names.add(`${n}.${t.slot}.${t.id}.${net}`);
    }
  }
  const out: Record<string, unknown> = {};
  for (const name of [...names].sort()) {
    const r = table.lookup(name);
    if (r) out[name] = { v4: [...r.v4].sort(), v6: [...r.v6].sort() };
  }
  for (let i = 1; i <= 9; i++) {
    for (const rev of [`${i}.0.0.10.in-addr.arpa`, `${i}.0.1.10.in-addr.arpa`]) {
      const targets = table.reverse(rev);
      if (targets) out[rev] = [...targets].sort();
    }
  }
  return out;
}

describe('RecordBuilder', () => {
  it('after any sequence of lists (objects reused, moved, replaced) equals a fresh build of the last', () => {
    fc.assert(
      fc.property(
        fc.array(fc.array(service, { maxLength: 5 }), { minLength: 1, maxLength: 6 }),
        fc.infiniteStream(fc.nat()),
        (lists, picks) => {
          const builder = new RecordBuilder();
          let previous: DnsService[] = [];
          for (const fresh of lists) {
            // Mix objects of the previous list (unchanged services) into the new one.
            const mixed = fresh.map((s) => {
              const pick = picks.next().value as number;
              return previous.length > 0 && pick % 3 === 0 ? previous[pick % previous.length] : s;
            });
            // The services of a feed's list have distinct ids.
            const list = mixed.filter((s, i) => mixed.findIndex((o) => o.id === s.id) === i);
            const kept = builder.build(list);
            expect(view(kept, list)).toEqual(view(buildRecordTable(list), list));
            previous = list;
          }
        },
      ),
      { numRuns: 300 },
    );
  });

  it('a name two forms produce goes to the stronger: tasks.web is web’s tasks, not service "tasks" on network "web"', () => {
    const web: DnsService = {
      id: 'a',
      name: 'web',
      endpointMode: 'dnsrr',
      createdAt: '2026-01-02',
      vips: [],
      tasks: [{ id: 't', slot: 1, addresses: [{ network: 'front', address: '10.1.0.1' }] }],
    };
    const tasks: DnsService = {
      id: 'b',
      name: 'tasks',
      endpointMode: 'vip',
      createdAt: '2026-01-01',
      vips: [{ network: 'web', address: '10.0.0.9' }],
      tasks: [],
    };
    expect(buildRecordTable([tasks, web]).lookup('tasks.web')?.v4).toEqual(['10.1.0.1']);
  });
});
