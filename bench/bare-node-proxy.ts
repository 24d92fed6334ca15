/**
 * The floor of a reverse proxy written in Node.js on this machine: an HTTP server that forwards
 * every request to one backend over kept-alive connections (no Nagle) and pipes the answer back —
 * no admission, no balancing, no accounting. bench/proxy-latency.ts runs it beside gigafab's proxy:
 * what it adds is what any Node proxy adds here; gigafab's added latency beyond it is gigafab's own.
 *
 * `node dist/bench/bare-node-proxy.js HOST:PORT` prints `listening PORT` once it listens.
 */
import { Agent, createServer, request } from 'node:http';

const [host, port] = (process.argv[2] ?? '').split(':');
if (!host || !port) {
  console.error('usage: bare-node-proxy HOST:PORT');
  process.exit(2);
}
const agent = new Agent({ keepAlive: true, maxSockets: 512, maxFreeSockets: 64, noDelay: true });
const server = createServer({ noDelay: true }, (req, res) => {
  const up = request({ host, port: Number(port), method: req.method, path: req.url, headers: req.headers, agent }, (r) => {
    res.writeHead(r.statusCode ?? 502, r.headers);
    r.pipe(res);
  });
  up.on('error', () => {
    if (!res.headersSent) res.writeHead(502);
    res.end();
  });
  req.pipe(up);
});
server.listen(0, '127.0.0.1', () => {
  const a = server.address();
  console.log(`listening ${typeof a === 'object' && a ? a.port : 0}`);
});
process.on('SIGTERM', () => process.exit(0));
