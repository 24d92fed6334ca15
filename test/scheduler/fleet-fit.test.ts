import assert from 'node:assert/strict';
import { test } from 'node:test';
import { loadFleetFile } from '../../src/fleet/load-fleet.js';
import { validateJobFitsFleet } from '../../src/scheduler/index.js';
import { makeFleet } from './fixtures.js';

test('validateJobFitsFleet on the demo fleet', () => {
  const demo = loadFleetFile();
  assert.equal(validateJobFitsFleet(demo, { gpuType: 'B200', gpusPerNode: 8, nodes: 1024 }), null);
  assert.equal(validateJobFitsFleet(demo, { gpuType: 'RTX-PRO-6000', gpusPerNode: 8, nodes: 160 }), null);
  assert.equal(validateJobFitsFleet(demo, { gpuType: null, gpusPerNode: 1, nodes: 1 }), null);

  const tooMany = validateJobFitsFleet(demo, { gpuType: 'B200', gpusPerNode: 8, nodes: 1025 });
  assert.equal(tooMany?.code, 'unsatisfiable');
  assert.equal(tooMany?.details?.rule, 'nodes_per_site');
  assert.equal(tooMany?.details?.largestSite, 'muc1');

  // RTX exists in two sites (160 + 96 nodes), but a gang lives in one site.
  const split = validateJobFitsFleet(demo, { gpuType: 'RTX-PRO-6000', gpusPerNode: 8, nodes: 161 });
  assert.equal(split?.details?.rule, 'nodes_per_site');
  assert.match(split?.message ?? '', /largest site \(fra1\) has 160/);

  const unknown = validateJobFitsFleet(demo, { gpuType: 'H100', gpusPerNode: 1, nodes: 1 });
  assert.equal(unknown?.details?.rule, 'unknown_gpu_type');
  assert.equal(unknown?.message, 'cannot run: unknown GPU type H100 (fleet has B200, RTX-PRO-6000)');

  const wide = validateJobFitsFleet(demo, { gpuType: 'B200', gpusPerNode: 16, nodes: 1 });
  assert.equal(wide?.details?.rule, 'gpus_per_node');

  assert.equal(validateJobFitsFleet(demo, { gpuType: null, gpusPerNode: 8, nodes: 2000 })?.details?.rule, 'no_gpu_type_fits');
  assert.equal(validateJobFitsFleet(demo, { gpuType: 'B200', gpusPerNode: 0, nodes: 1 })?.details?.rule, 'invalid_shape');
  assert.equal(validateJobFitsFleet(demo, { gpuType: 'B200', gpusPerNode: 1, nodes: 1.5 })?.details?.rule, 'invalid_shape');
});

test('validateJobFitsFleet with mixed node sizes counts only nodes big enough', () => {
  const fleet = makeFleet([
    { site: 'a', gpuType: 'B200', count: 3, gpus: 8, prefix: 'a8' },
    { site: 'a', gpuType: 'B200', count: 5, gpus: 4, prefix: 'a4' },
  ]);
  assert.equal(validateJobFitsFleet(fleet, { gpuType: 'B200', gpusPerNode: 4, nodes: 8 }), null);
  assert.equal(validateJobFitsFleet(fleet, { gpuType: 'B200', gpusPerNode: 8, nodes: 3 }), null);
  assert.equal(validateJobFitsFleet(fleet, { gpuType: 'B200', gpusPerNode: 5, nodes: 4 })?.code, 'unsatisfiable');
  assert.equal(validateJobFitsFleet(fleet, { gpuType: 'B200', gpusPerNode: 4, nodes: 9 })?.code, 'unsatisfiable');
});
