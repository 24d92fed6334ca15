#!/usr/bin/env python3
"""Compare `gigafab simulate --scenario fgd` runs with the paper's published FGD medians.

  scripts/fgd-compare-paper.py --paper-dir ../shared/traces/fgd-atc23-results \
      --trace-dir ../shared/traces/alibaba-gpu-v2023-openb RUN_DIR...

Each RUN_DIR is an `--out` folder of one workload (fgd-results.json); when RUN_DIR.placements.csv
(`--placements-out`) exists beside it, the curves are also recomputed with the authors' bucketing
(experiments/analysis/merge_alloc_discrete_0920.py in hkust-adsl/kubernetes-scheduler-simulator:
each sample's allocation % rounded to 2 decimals, arrived % rounded to an integer, the bucket's
mean rounded to 2 decimals, an empty bucket taking the samples within +-1). With --orders DIR (the
arrival-order files), it first checks the orders alone against the authors' per-seed FGD curves at
1-85 % arrived, where no task fails (allocated = arrived): buckets equal to 2 decimals, and the
buckets that differ. Prints, per workload,
markdown rows at 70, 75, ..., 130 % arrived: gigafab and our FGD medians (our bucketing), their
differences from the paper's FGD median, and the same on the authors' bucketing; the area is the
trapezoid over the 5 % points. Standard library only; evaluation helper, not part of the tests.
"""
import argparse
import csv
import json
import os
import statistics
from collections import defaultdict

POINTS = list(range(70, 131, 5))


def paper_medians(paper_dir):
    out = defaultdict(dict)
    with open(os.path.join(paper_dir, 'summary_unallocated_gpu_pct.csv')) as f:
        for r in csv.DictReader(f):
            out[(r['workload'].replace('openb_pod_list_', ''), r['policy'])][int(r['arrived_pct'])] = float(
                r['median_unalloc_pct'])
    return out


def task_milli(trace_dir, workload):
    m = {}
    with open(os.path.join(trace_dir, f'openb_pod_list_{workload}.csv')) as f:
        for r in csv.DictReader(f):
            n = int(float(r['num_gpu'] or 0))
            g = int(float(r['gpu_milli'] or 0))
            m[r['name']] = 0 if n == 0 else n * min(max(g, 0), 1000)
    return m


def authors_buckets(samples):
    """samples: (arrived %, allocated %) after each task -> {k: bucket value} for k in POINTS."""
    by = defaultdict(list)
    rounded = [(round(a, 0), round(u, 2)) for a, u in samples]
    for a, u in rounded:
        by[a].append(u)
    out = {}
    for k in POINTS:
        vals = by.get(k)
        if not vals:
            vals = [u for a, u in rounded if k - 1 <= a <= k + 1]
        if vals:
            out[k] = round(sum(vals) / len(vals), 2)
    return out


def authors_curves(path, milli, gpus):
    runs = defaultdict(list)  # (policy, seed) -> samples
    state = {}
    with open(path) as f:
        for r in csv.DictReader(f):
            key = (r['policy'], int(r['seed']))
            arrived, used = state.get(key, (0, 0))
            t = milli[r['task']]
            arrived += t
            if r['node']:
                used += t
            state[key] = (arrived, used)
            runs[key].append((arrived / gpus / 10, used / gpus / 10))
    med = defaultdict(dict)
    per = defaultdict(lambda: defaultdict(list))
    for (policy, _seed), samples in runs.items():
        for k, v in authors_buckets(samples).items():
            per[policy][k].append(100 - v)
    for policy, ks in per.items():
        for k, vals in ks.items():
            med[policy][k] = statistics.median(vals)
    return med


def check_orders(orders_dir, paper_dir, trace_dir, workloads, gpus=6212):
    pub = {}
    with open(os.path.join(paper_dir, 'analysis_allo_discrete.csv')) as f:
        for r in csv.DictReader(f):
            if r['sc_policy'] == '06-FGD':
                pub[(r['workload'].replace('openb_pod_list_', ''), int(r['seed']))] = r
    for w in workloads:
        milli = task_milli(trace_dir, w)
        orders = defaultdict(list)
        with open(os.path.join(orders_dir, f'{w}.csv')) as f:
            for r in csv.DictReader(f):
                orders[int(r['seed'])].append(r['task'])
        same, total, differ = 0, 0, []
        for seed, order in sorted(orders.items()):
            row = pub.get((w, seed))
            if row is None:
                continue
            arrived, by = 0, defaultdict(list)
            for t in order:
                arrived += milli[t]
                pct = arrived / gpus / 10
                by[round(pct, 0)].append(round(pct, 2))
            for k in range(1, 86):
                if not by.get(k) or not row.get(str(k)):
                    continue
                raw = sum(by[k]) / len(by[k])
                total += 1
                if abs(round(raw, 2) - float(row[str(k)])) < 1e-9:
                    same += 1
                else:
                    differ.append(f'seed {seed} @{k}: {raw!r} vs {row[str(k)]}')
        print(f'orders {w}: {same} of {total} buckets (1-85 %) equal the published FGD curve'
              + (f"; differ: {'; '.join(differ)}" if differ else ''))


def area(curve):
    ys = [curve[k] for k in POINTS]
    return 5 * (sum(ys) - (ys[0] + ys[-1]) / 2)


def fmt(x):
    return '±0.00' if abs(x) < 0.005 else f'{x:+.2f}'


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--paper-dir', required=True)
    ap.add_argument('--trace-dir', required=True)
    ap.add_argument('--orders', help='arrival-order folder to check against the published curves')
    ap.add_argument('--workloads', default='', help='with --orders: workloads to check (comma-separated)')
    ap.add_argument('runs', nargs='*')
    a = ap.parse_args()
    if a.orders:
        check_orders(a.orders, a.paper_dir, a.trace_dir, [w for w in a.workloads.split(',') if w])
    if not a.runs:
        return
    paper = paper_medians(a.paper_dir)
    header = '| workload | ' + ' | '.join(str(k) for k in POINTS) + ' | area 70–130 | at/below |'
    print(header)
    print('|---|' + '---:|' * (len(POINTS) + 2))
    total = defaultdict(int)
    for run in a.runs:
        run = run.rstrip('/')
        with open(os.path.join(run, 'fgd-results.json')) as f:
            res = json.load(f)
        w = res['workloads'][0]['workload']
        gpus = res['cluster']['gpus']
        pf = paper[(w, '06-FGD')]
        ours = defaultdict(dict)
        for s in res['summary']:
            ours[s['policy']][s['arrived']] = s['ours']['median']
        rows = [(f'{w} gigafab', ours['gigafab']), (f'{w} our FGD', ours['fgd'])]
        pl = run + '.placements.csv'
        auth = authors_curves(pl, task_milli(a.trace_dir, w), gpus) if os.path.exists(pl) else None
        print(f"| {w} paper FGD (median) | " + ' | '.join(f'{pf[k]:.2f}' for k in POINTS) + f' | {area(pf):.1f} | |')
        variants = [(' (authors\' bucketing)', auth), (' (our bucketing)', ours)] if auth else [('', ours)]
        g = variants[0][1]['gigafab']
        print(f'| {w} gigafab{variants[0][0]} | ' + ' | '.join(f'{g[k]:.2f}' for k in POINTS) + f' | {area(g):.1f} | |')
        for pol, label, curves in [('gigafab', l, c) for l, c in variants] + [('fgd', l, c) for l, c in variants]:
            c = curves[pol]
            d = {k: c[k] - pf[k] for k in POINTS}
            le = sum(1 for k in POINTS if round(c[k], 2) <= pf[k] + 1e-9)
            total[(pol, label)] += le
            name = 'gigafab' if pol == 'gigafab' else 'our FGD'
            print(f'| — {name} − paper FGD{label} | ' + ' | '.join(fmt(d[k]) for k in POINTS)
                  + f' | {area(c) - area(pf):+.2f} | {le}/13 |')
    for (pol, label), n in sorted(total.items()):
        print(f'{pol}{label}: at or below the paper\'s FGD at {n} points')


if __name__ == '__main__':
    main()
