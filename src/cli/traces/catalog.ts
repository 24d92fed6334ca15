/**
 * The public GPU-cluster traces `gigafab simulate` imports, where to get them, and what their licences allow.
 * gigafab ships none of their data (several licences allow research use only); `gigafab trace fetch NAME`
 * downloads a trace from its upstream repository at a pinned commit and checks every file's SHA-256 (the
 * hashes of the files as published at that commit). A custom catalogue (`--catalog FILE`, same shape as
 * JSON) points at an internal mirror instead.
 */
import { z } from 'zod';

export const TraceFileSchema = z.strictObject({
  /** Name in the cache directory. */
  name: z.string().regex(/^[A-Za-z0-9._-]+$/, 'a plain file name'),
  url: z.url(),
  sha256: z.string().regex(/^[0-9a-f]{64}$/, '64 lower-case hex digits'),
  bytes: z.number().int().positive(),
  /** A .tar.gz whose files matching `extract` (a file-name pattern) are unpacked into the trace's directory. */
  extract: z.string().optional(),
});
export type TraceFile = z.infer<typeof TraceFileSchema>;

export const TraceEntrySchema = z.strictObject({
  name: z.string().regex(/^[a-z0-9-]+$/, 'lower-case letters, digits and dashes'),
  title: z.string(),
  licence: z.string(),
  cite: z.string(),
  /** How `gigafab simulate` uses it, shown by `trace list` and after a fetch. */
  use: z.string(),
  files: z.array(TraceFileSchema).min(1),
});
export type TraceEntry = z.infer<typeof TraceEntrySchema>;
export const TraceCatalogSchema = z.array(TraceEntrySchema).min(1);

const ALIBABA =
  'https://raw.githubusercontent.com/alibaba/clusterdata/7a6c496e4f4b6ce6150be8f881cb051bf2abff42/cluster-trace-gpu-v2023/csv';
const alibaba = (name: string, sha256: string, bytes: number): TraceFile => ({ name, url: `${ALIBABA}/${name}`, sha256, bytes });

export const TRACE_CATALOG: readonly TraceEntry[] = [
  {
    name: 'alibaba-2023',
    title: 'Alibaba GPU cluster 2023 (openb): 1,213 GPU nodes and the FGD task lists (default, cpu*, gpushare*)',
    licence: 'research or study use only, with citation (alibaba/clusterdata README); not for shipping in a product',
    cite: 'Weng et al., "Beware of Fragmentation: Scheduling GPU-Sharing Workloads with Fragmentation Gradient Descent", USENIX ATC 2023',
    use: 'gigafab simulate --scenario fgd --trace-dir DIR, or --trace DIR/openb_pod_list_default.csv',
    files: [
      alibaba('openb_node_list_gpu_node.csv', '2beca64b4d3dfa342036a34b56a495c6cef9225db836c81f541282cb1df320b5', 42353),
      alibaba('openb_node_list_all_node.csv', '5a85c2af79c66a1efff8bbcbda430400aae56d8431370d738480967e1a9c6b15', 52287),
      alibaba('openb_pod_list_default.csv', '1ee7ed79c27a3b0861cda8ddba86a004c6aba904caafa329a76ae93ca63834a8', 575468),
      alibaba('openb_pod_list_cpu0.csv', '1bc3fd9ee5c1468ccd018f624d9222746e08d59f963f66b925804734271c0eaa', 499765),
      alibaba('openb_pod_list_cpu037.csv', '8ed554026d041b15ff21ddc104d9a21dbd9a93c496262fa23ef7b5be27e220dc', 518687),
      alibaba('openb_pod_list_cpu050.csv', '747f43247bffc2b0bb081d7f61f0705ca8d390dafc0b647e642c92f3baf3ba1e', 525811),
      alibaba('openb_pod_list_cpu072.csv', 'f8a2b031461b54d7b9f06d55473c2371eb3357b78a255c646bdca5e0833a8a2f', 537576),
      alibaba('openb_pod_list_cpu100.csv', 'bec1c33fbdde61fd463877534ec79b393aec73e1cbb22d55fab9f166ac480982', 554709),
      alibaba('openb_pod_list_cpu200.csv', 'b7e9d8a1a601da84d6e0b4110b19ef5001be5e4796d33e7b82f166ba95161f87', 622703),
      alibaba('openb_pod_list_cpu235.csv', '87bebd4d012faa8305ce1fd82737f51cf03361aac28b75d42e34aa656d7f4ee0', 651171),
      alibaba('openb_pod_list_cpu250.csv', '134c21ff96d57533df8a37b67632972884fec9396e77cd0898ddc370cc8e607d', 663708),
      alibaba('openb_pod_list_cpu300.csv', '76528825f40ee662cb098b3b6e683c1efd9f87a0c8af7e628df1f32c639636d1', 710698),
      alibaba('openb_pod_list_gpushare20.csv', '9be2d0efb52e242c32e23dd184cc5fcc1983478c6c9c02cbb6b4b62925c0ffcd', 574603),
      alibaba('openb_pod_list_gpushare40.csv', 'd83ce79a4eb6987524bedbb0c65e41aed3a36bf6c1b78b86234c3687a07e1d40', 572662),
      alibaba('openb_pod_list_gpushare60.csv', 'd31809628128a1f24491086eda4af3e23882b9213d3ef57a56ee2d1af69492fe', 566361),
      alibaba('openb_pod_list_gpushare80.csv', '88b6649369ced40d0fde287d2498ea61ff4b05fccba8bdc95daf6042f2f8431e', 563740),
      alibaba('openb_pod_list_gpushare100.csv', '12dbc07d6a49bf8641e2275a2ff5bf7be74b5df7d148d531e135b140b95f9a3d', 561220),
    ],
  },
  {
    name: 'philly',
    title: 'Microsoft Philly 2017 as used by Pollux (OSDI 2021): 82,247 jobs',
    licence: 'CC BY 4.0 (underlying Philly trace, msr-fiddle/philly-traces); file from petuum/adaptdl (Apache-2.0)',
    cite: 'Jeon et al., "Analysis of Large-Scale Multi-Tenant GPU Clusters for DNN Training Workloads", USENIX ATC 2019',
    use: 'gigafab simulate --trace DIR/philly.csv --scale-fleet 0.275',
    files: [
      {
        name: 'philly.csv',
        url: 'https://raw.githubusercontent.com/petuum/adaptdl/c793c7089bd307462686339d29707925c461f9a9/simulator/traces/philly.csv',
        sha256: 'ebffb3dd1589bdf4e7bcd74496201c5ded1d557d498ee14f560463f37ec353da',
        bytes: 3444496,
      },
    ],
  },
  {
    name: 'itp',
    title: 'Microsoft ITP 2021 raw traces (ElasticFlow, ASPLOS 2023): 69,351 jobs from 10 clusters',
    licence: 'MIT (microsoft/elasticflow-traces)',
    cite: 'Gu et al., "ElasticFlow: An Elastic Serverless Training Platform for Distributed Deep Learning", ASPLOS 2023',
    use: 'gigafab simulate --trace DIR/cluster04.csv',
    files: [
      {
        name: 'raw-traces.tar.gz',
        url: 'https://raw.githubusercontent.com/microsoft/elasticflow-traces/277ed24d0e908c31a1c98145819e2e3853d8ac00/data/raw-traces.tar.gz',
        sha256: '67398e1a89245c50ae0881bf997e6cda0c95f9f47980af5bc56d67998965669f',
        bytes: 1943846,
        extract: '^cluster[0-9]+\\.csv$',
      },
    ],
  },
];
