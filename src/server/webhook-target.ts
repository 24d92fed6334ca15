/**
 * Webhook targets: where the control plane may POST (budget alerts). A URL must be https and its
 * host must resolve only to public addresses: loopback, private (RFC 1918, ULA), link-local, CGNAT,
 * unspecified, multicast and reserved ranges are refused (SSRF). The server setting
 * `budgetAlerts.allowLoopback` (policy file) allows loopback, over plain http too, for tests and
 * receivers on the same host. The check runs when a URL is set and again on every connection (the
 * socket's own lookup), so a name that later resolves elsewhere (DNS rebinding) is refused too.
 */
import { lookup as dnsLookup } from 'node:dns';
import { lookup } from 'node:dns/promises';
import { BlockList, isIP, type LookupFunction } from 'node:net';
import { DomainError } from '../model/errors.js';

const LOOPBACK = new BlockList();
LOOPBACK.addSubnet('127.0.0.0', 8, 'ipv4');
LOOPBACK.addAddress('::1', 'ipv6');

const SPECIAL = new BlockList();
for (const [net, bits] of [
  ['0.0.0.0', 8],
  ['10.0.0.0', 8],
  ['100.64.0.0', 10],
  ['169.254.0.0', 16],
  ['172.16.0.0', 12],
  ['192.0.0.0', 24],
  ['192.168.0.0', 16],
  ['198.18.0.0', 15],
  ['224.0.0.0', 4],
  ['240.0.0.0', 4],
] as const) {
  SPECIAL.addSubnet(net, bits, 'ipv4');
}
for (const [net, bits] of [
  ['::', 128],
  ['fc00::', 7],
  ['fe80::', 10],
  ['ff00::', 8],
  ['64:ff9b::', 96],
] as const) {
  SPECIAL.addSubnet(net, bits, 'ipv6');
}

/** addressRefusal: why the control plane must not connect to `address`, or null. */
export function addressRefusal(address: string, allowLoopback: boolean): string | null {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  const addr = mapped ? mapped[1] : address;
  const family = isIP(addr) === 6 ? 'ipv6' : 'ipv4';
  if (LOOPBACK.check(addr, family)) {
    return allowLoopback ? null : `${address} is a loopback address (the server setting budgetAlerts.allowLoopback allows it)`;
  }
  if (SPECIAL.check(addr, family)) return `${address} is a private, link-local or reserved address`;
  return null;
}

function refused(url: string, why: string): DomainError {
  return new DomainError('unprocessable', 'webhook_url_refused', `webhook URL ${url} refused: ${why}`);
}

/** checkWebhookUrl: throws 422 webhook_url_refused unless the URL is one the control plane may POST to. */
export async function checkWebhookUrl(raw: string, allowLoopback: boolean): Promise<void> {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw refused(raw, 'not a URL');
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') throw refused(raw, 'only https is allowed');
  if (url.username || url.password) throw refused(raw, 'credentials in the URL are not allowed; verify the signature instead');
  const host = url.hostname.replace(/^\[|\]$/g, '');
  let addresses: string[];
  try {
    addresses = isIP(host) ? [host] : (await lookup(host, { all: true })).map((a) => a.address);
  } catch {
    throw refused(raw, `${host} does not resolve`);
  }
  for (const a of addresses) {
    const why = addressRefusal(a, allowLoopback);
    if (why) throw refused(raw, why);
  }
  if (url.protocol === 'http:' && !(allowLoopback && addresses.every((a) => addressRefusal(a, false) !== null))) {
    throw refused(raw, 'only https is allowed (plain http only to loopback, where the server allows loopback)');
  }
}

/** guardedLookup: the socket's DNS lookup, refusing any address checkWebhookUrl would refuse. */
export function guardedLookup(allowLoopback: boolean): LookupFunction {
  return (hostname, options, callback) => {
    dnsLookup(hostname, { ...options, all: true }, (err, found) => {
      if (err) return callback(err, '', 4);
      const list = found as { address: string; family: number }[];
      for (const a of list) {
        const why = addressRefusal(a.address, allowLoopback);
        if (why) return callback(Object.assign(new Error(`refused: ${why}`), { code: 'EWEBHOOKREFUSED' }), '', 4);
      }
      if ((options as { all?: boolean }).all) {
        (callback as unknown as (e: null, a: { address: string; family: number }[]) => void)(null, list);
      } else callback(null, list[0].address, list[0].family);
    });
  };
}
