/**
 * The nginx data plane's configuration (nginx-plane.ts runs nginx with it): pure text from the
 * routes, so the same routes give the same file. Split from nginx-plane.ts, which runs the process,
 * the admission listener and the access-log reader.
 */
import type { ProxyTarget } from '../../model/workloads.js';
import { FALLBACK_SECRET_HEADER } from './headers.js';
import { COOKIE_NAME } from './open-tickets.js';
import { ADMISSION_TTL_MS, type WireProblem } from './workers.js';

/** The header carrying a denial (base64url JSON of a WireProblem) from the admission to its rendering. */
export const PROBLEM_HEADER = 'x-gigafab-problem';
export const SECRET_HEADER = 'x-gigafab-plane';

/** A WireProblem as PROBLEM_HEADER carries it (base64url JSON). */
export const problemHeaderValue = (p: WireProblem) => Buffer.from(JSON.stringify(p)).toString('base64url');
export const listenAddr = (host: string, port: number) => (host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`);

export interface NginxConfigInput {
  prefix: string;
  cacheDir: string;
  host: string;
  port: number;
  baseDomain: string;
  scheme: 'http' | 'https';
  fallbackPort: number;
  fallbackSecret: string;
  controlPort: number;
  logPort: number;
  secret: string;
  workers: number;
  routes: readonly ProxyTarget[];
}

/** nginxConfig: the whole config for `routes` (deterministic: the same routes give the same text). */
export function nginxConfig(c: NginxConfigInput): string {
  const listen = `listen ${listenAddr(c.host, c.port)}`;
  // What gigafab's own proxy needs of a request it gets from nginx (it trusts X-Real-IP with the secret).
  const toGigafab = `proxy_pass http://gf_gigafab;
      proxy_set_header Host $http_host;
      proxy_set_header X-Real-IP $remote_addr;
      proxy_set_header ${FALLBACK_SECRET_HEADER} ${c.fallbackSecret};
      proxy_set_header Upgrade $http_upgrade;
      proxy_set_header Connection $gf_connection;`;
  const toControl = `proxy_pass_request_body off;
      proxy_set_header Content-Length "";
      proxy_set_header Connection "";
      proxy_set_header ${SECRET_HEADER} ${c.secret};`;
  const sorted = [...c.routes].sort((a, b) => a.workloadId.localeCompare(b.workloadId));
  const hosts = sorted.map((t) => `    ${t.workloadId}.${c.baseDomain} ${t.workloadId};`).join('\n');
  const servers = sorted
    .map((t) => {
      const id = t.workloadId;
      const unreachable = problemHeaderValue({
        status: 502,
        code: 'upstream_unreachable',
        detail: `${id} could not be reached (no replica answered)`,
      });
      const servers = t.upstreams
        .map((u) => `    server ${listenAddr(u.host, u.port)} max_fails=1 fail_timeout=2s;`)
        .sort()
        .join('\n');
      return `
  upstream gf_${id} {
    least_conn;
${servers}
    keepalive 64;
  }
  server {
    ${listen};
    server_name ${id}.${c.baseDomain};
    access_log syslog:server=127.0.0.1:${c.logPort},nohostname,tag=gigafab gf;
    location = /_gigafab_admit {
      internal;
      proxy_pass http://gf_control/admit;
      ${toControl}
      proxy_set_header X-Gigafab-Workload ${id};
      proxy_set_header X-Real-IP $remote_addr;
      # A client's own copy of the denial header must not reach the admission (it is only ever nginx's).
      proxy_set_header ${PROBLEM_HEADER} "";
      # Only a buffered response is cached (the http level turns buffering off for streams).
      proxy_buffering on;
      proxy_cache gf_admit;
      proxy_cache_key "${id}|$http_authorization|$cookie_${COOKIE_NAME}";
      proxy_cache_methods GET HEAD POST;
      # No proxy_cache_lock: its waiters poll every 500 ms (a tail at every expiry); misses ask in parallel.
      # An expired admission is refreshed in the background while the requests meanwhile use it (no
      # client waits for the ask at every expiry); bounded by this ask's timeouts. A change empties
      # the cache (files gone: nothing stale to serve), so only time-based expiries can be late.
      proxy_cache_use_stale updating;
      proxy_cache_background_update on;
      proxy_connect_timeout 1s;
      proxy_read_timeout 2s;
      proxy_ignore_headers Cache-Control Expires Set-Cookie Vary;
    }
    location /_gigafab/ {
      ${toGigafab}
    }
    location / {
      auth_request /_gigafab_admit;
      auth_request_set $gf_problem $upstream_http_${PROBLEM_HEADER.replaceAll('-', '_')};
      auth_request_set $gf_admit_cache $upstream_cache_status;
      error_page 403 = @gf_denied;
      error_page 502 504 = $gf_failed;
      proxy_pass http://gf_${id};
      proxy_next_upstream error timeout;
      proxy_set_header Host $http_host;
      proxy_set_header Authorization "";
      proxy_set_header Cookie $gf_cookie;
      proxy_set_header X-Real-IP "";
      proxy_set_header Forwarded "";
      proxy_set_header X-Forwarded-For $remote_addr;
      proxy_set_header X-Forwarded-Host $http_host;
      proxy_set_header X-Forwarded-Proto ${c.scheme};
      proxy_set_header Upgrade $http_upgrade;
      proxy_set_header Connection $gf_connection;
      add_header X-Gigafab-Route nginx always;
    }
    location @gf_denied {
      rewrite ^ /denial? break;
      proxy_pass http://gf_control;
      ${toControl}
      proxy_method GET;
      proxy_set_header ${PROBLEM_HEADER} $gf_problem;
      proxy_set_header X-Original-URI $request_uri;
    }
    location @gf_unreachable {
      rewrite ^ /denial? break;
      proxy_pass http://gf_control;
      ${toControl}
      proxy_method GET;
      proxy_set_header ${PROBLEM_HEADER} ${unreachable};
      proxy_set_header X-Original-URI $request_uri;
    }
    location @gf_retry {
      ${toGigafab}
    }
  }`;
    })
    .join('\n');
  return `# Written by gigafab (api/proxy/nginx-plane.ts); rewritten on every change of routes. Do not edit.
worker_processes ${c.workers};
daemon off;
pid ${c.prefix}/nginx.pid;
error_log ${c.prefix}/error.log warn;
events { worker_connections 4096; }
http {
  client_body_temp_path ${c.prefix}/tmp/body;
  proxy_temp_path ${c.prefix}/tmp/proxy;
  fastcgi_temp_path ${c.prefix}/tmp/fastcgi;
  uwsgi_temp_path ${c.prefix}/tmp/uwsgi;
  scgi_temp_path ${c.prefix}/tmp/scgi;
  access_log off;
  server_tokens off;
  client_max_body_size 0;
  proxy_http_version 1.1;
  # Streams (SSE, chunked, uploads) pass as they come; WebSockets and sessions stay open long.
  proxy_buffering off;
  proxy_request_buffering off;
  proxy_read_timeout 3600s;
  proxy_send_timeout 3600s;
  map $http_upgrade $gf_connection { default upgrade; '' ''; }
  # For the access log: the routed workload of a host, and whether its admission came from the cache.
  map $host $gf_wl {
    default "";
${hosts}
  }
  map $host $gf_admit_cache { default ""; }
  # Our cookie never reaches a workload (as in headers.ts); its own cookies do.
  map $http_cookie $gf_cookie {
    default $http_cookie;
    "~^${COOKIE_NAME}=[^;]*(?:;\\s*)?(?<post>.*)$" $post;
    "~^(?<pre>.*?);\\s*${COOKIE_NAME}=[^;]*(?<post>.*)$" "$pre$post";
  }
  # After a failed attempt on every replica: an idempotent request goes to gigafab's proxy (which
  # resolves afresh: a replica that started meanwhile, or 503 / the cold-start queue); any other gets 502.
  map $request_method $gf_failed { GET @gf_retry; HEAD @gf_retry; OPTIONS @gf_retry; default @gf_unreachable; }
  proxy_cache_path ${c.cacheDir} levels=1:2 keys_zone=gf_admit:1m max_size=16m inactive=${Math.ceil((2 * ADMISSION_TTL_MS) / 1000)}s use_temp_path=off;
  log_format gf 'gf1|${c.secret}|$gf_wl|$remote_addr|$gf_admit_cache|$status|$upstream_addr|$upstream_status|$upstream_response_time';
  upstream gf_gigafab {
    server 127.0.0.1:${c.fallbackPort};
    keepalive 64;
  }
  upstream gf_control {
    server 127.0.0.1:${c.controlPort};
    keepalive 32;
  }
  server {
    ${listen} default_server;
    server_name _;
    location / {
      ${toGigafab}
    }
  }
${servers}
}
`;
}
