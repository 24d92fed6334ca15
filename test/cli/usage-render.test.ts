/** gigafab usage's table: a report with reserved capacity gets a `net eur` column and a line per commitment; one without is unchanged. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { renderUsage } from '../../src/cli/commands/usage.js';
import type { UsageReport } from '../../src/model/usage.js';

const plain: UsageReport = {
  from: '2025-12-01T00:00:00.000Z',
  to: '2026-01-01T00:00:00.000Z',
  groupBy: ['project'],
  items: [
    {
      project: 'vision',
      gpuSeconds: 86400,
      gpuHours: 24,
      segments: 1,
      openSegments: 0,
      cost: 8640,
      unpricedGpuSeconds: 0,
      itKwh: 0,
      measuredKwh: 0,
    },
  ],
  total: { gpuSeconds: 86400, gpuHours: 24, segments: 1, cost: 8640, unpricedGpuSeconds: 0, itKwh: 0, measuredKwh: 0 },
};

test('a report without reserved capacity has no net column', () => {
  const out = renderUsage(plain);
  assert.doesNotMatch(out, /NET EUR|reserved:/);
  assert.match(out, /EUR 86\.40, 0\.000 kWh/);
});

test('a report with reserved capacity shows the net cost and each commitment', () => {
  const out = renderUsage({
    ...plain,
    items: [{ ...plain.items[0]!, coveredGpuSeconds: 43200, netCost: 4320 }],
    total: { ...plain.total, coveredGpuSeconds: 43200, netCost: 4320 },
    reservedCapacity: [
      {
        org: 'acme',
        gpuType: 'B200',
        month: '2025-12',
        gpus: 8,
        centsPerGpuMonth: 1000,
        from: '2025-12-01T00:00:00.000Z',
        to: '2026-01-01T00:00:00.000Z',
        amountCents: 8000,
        coveredGpuSeconds: 43200,
      },
    ],
  });
  assert.match(out, /NET EUR/);
  assert.match(out, /vision .*86\.40 +0\.000 +43\.20/);
  assert.match(out, /EUR 86\.40 \(net of reserved capacity EUR 43\.20\)/);
  assert.match(out, /reserved: acme 8 × B200 in 2025-12, EUR 80\.00 for .*, covered 12\.00 GPU-hours/);
});
