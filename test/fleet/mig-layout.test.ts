/** The fleet file's GPU sharing: MIG layouts per node type and sharing per site, validated on load. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { FleetSpecSchema } from '../../src/fleet/fleet-schema.js';
import { loadFleetFile } from '../../src/fleet/load-fleet.js';
import { migLayoutOf, migProfileMilli, migProfileOf, siteAllowsSharing } from '../../src/model/gpu-sharing.js';

test('the demo fleet: B200 and RTX PRO 6000 MIG layouts (NVIDIA MIG guide); sharing in muc1 and fra1 only', () => {
  const fleet = loadFleetFile();
  assert.deepEqual(
    migLayoutOf(fleet, 'B200')?.profiles.map((p) => `${p.name}x${p.maxInstances}`),
    ['1g.23gbx7', '1g.45gbx4', '2g.45gbx3', '3g.90gbx2', '4g.90gbx1', '7g.180gbx1'],
  );
  assert.deepEqual(
    migLayoutOf(fleet, 'RTX-PRO-6000')?.profiles.map((p) => `${p.name}x${p.maxInstances}`),
    ['1g.24gbx4', '2g.48gbx2', '4g.96gbx1'],
  );
  const one = migProfileOf(fleet, 'B200', '1g.23gb');
  assert.ok(one);
  assert.equal(migProfileMilli(one.layout, one.profile), 143);
  assert.deepEqual(
    fleet.sites.filter(siteAllowsSharing).map((s) => s.id),
    ['muc1', 'fra1'],
  );
});

test('a MIG profile with more slices than its GPU, or a malformed name, is refused', () => {
  const spec = (profile: Record<string, unknown>) => ({
    name: 'x',
    sites: [{ id: 's1', name: 'S1', city: 'M', country: 'DE', gpuSharing: true }],
    nodeTypes: [
      {
        id: 'n',
        gpuType: 'B200',
        gpusPerNode: 8,
        gpuMemoryGiB: 180,
        interconnect: 'nvlink',
        cpus: 8,
        memoryGiB: 64,
        mig: { computeSlices: 7, memorySlices: 8, profiles: [profile] },
      },
    ],
    pools: [{ site: 's1', nodeType: 'n', count: 1, namePrefix: 'p' }],
  });
  const ok = { name: '1g.23gb', computeSlices: 1, memorySlices: 1, memoryGiB: 23, maxInstances: 7 };
  assert.equal(FleetSpecSchema.safeParse(spec(ok)).success, true);
  const r = FleetSpecSchema.safeParse(spec({ ...ok, computeSlices: 8 }));
  assert.equal(r.success, false);
  assert.match(r.error?.issues[0]?.message ?? '', /needs more slices than the GPU has/);
  assert.equal(FleetSpecSchema.safeParse(spec({ ...ok, name: 'big' })).success, false);
});
