/**
 * A real OpenID Connect issuer for tests: `oidc-provider` (a certified OpenID implementation) on an
 * ephemeral port. Tokens come from its token endpoint with the client_credentials grant and a
 * resource indicator (RFC 8707), which makes it issue RFC 9068 JWT access tokens signed with the
 * issuer's published keys; `extraTokenClaims` adds the groups (and profile claims) a real IdP such
 * as Keycloak puts into tokens from its group mappers. `login` drives the browser flow of a person
 * instead: authorization code + PKCE through the provider's login and consent pages, ending with an
 * ID token whose audience is the CLI's client id.
 */
import { createHash, randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair, type JWK } from 'jose';
import Provider from 'oidc-provider';

export interface TestClient {
  id: string;
  groups: string[];
  /** Access token lifetime in seconds (default 300). */
  ttl?: number;
  claims?: Record<string, string>;
}

export interface TestIssuer {
  issuer: string;
  /** login: a person's ID token after the authorization-code flow (PKCE) as `account`. */
  login(account: string): Promise<string>;
  /** token: a fresh JWT access token for `clientId`, for the given resource (audience). */
  token(clientId: string, resource?: string): Promise<string>;
  close(): Promise<void>;
}

export const API_RESOURCE = 'https://gigafab.test/api';
/** The public client a CLI would use for browser login; its ID tokens carry this as `aud`. */
export const CLI_CLIENT = 'gigafab-cli';
const REDIRECT = 'http://127.0.0.1:1/callback';

export async function signingKey(): Promise<JWK> {
  const { privateKey } = await generateKeyPair('RS256', { extractable: true });
  return { ...(await exportJWK(privateKey)), kid: 'test-key-1', alg: 'RS256', use: 'sig' };
}

export async function startIssuer(
  clients: TestClient[],
  key: JWK,
  accounts: Record<string, { groups: string[]; claims?: Record<string, string> }> = {},
): Promise<TestIssuer> {
  let handler: (req: IncomingMessage, res: ServerResponse) => void = (_req, res) => res.end();
  const server = createServer((req, res) => handler(req, res));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const byId = new Map(clients.map((c) => [c.id, c]));
  const provider = new Provider(issuer, {
    clients: [
      ...clients.map((c) => ({
        client_id: c.id,
        client_secret: `${c.id}-secret`,
        grant_types: ['client_credentials'],
        response_types: [],
        redirect_uris: [],
        token_endpoint_auth_method: 'client_secret_post',
      })),
      { client_id: CLI_CLIENT, token_endpoint_auth_method: 'none', redirect_uris: [REDIRECT] },
    ],
    jwks: { keys: [key] },
    claims: { openid: ['sub'], groups: ['groups'], profile: ['preferred_username'], email: ['email'] },
    // Put the scope's claims into the ID token itself (the CLI sends the ID token, not userinfo calls).
    conformIdTokenClaims: false,
    findAccount: (_ctx: unknown, sub: string) => {
      const a = accounts[sub];
      return a ? { accountId: sub, claims: () => ({ sub, groups: a.groups, ...a.claims }) } : undefined;
    },
    features: {
      devInteractions: { enabled: true },
      clientCredentials: { enabled: true },
      resourceIndicators: {
        enabled: true,
        defaultResource: () => API_RESOURCE,
        useGrantedResource: () => true,
        getResourceServerInfo: (_ctx: unknown, resource: string, client: { clientId: string }) => ({
          scope: 'api',
          audience: resource,
          accessTokenTTL: byId.get(client.clientId)?.ttl ?? 300,
          accessTokenFormat: 'jwt',
        }),
      },
    },
    extraTokenClaims: (_ctx: unknown, token: { clientId?: string }) => {
      const c = byId.get(token.clientId ?? '');
      return c ? { groups: c.groups, ...c.claims } : {};
    },
  });
  handler = provider.callback();
  return {
    issuer,
    async login(account: string) {
      const jar = new Map<string, string>();
      // A minimal browser: keeps cookies (paths ignored) and follows nothing by itself.
      const go = async (url: string, form?: Record<string, string>) => {
        const res = await fetch(new URL(url, issuer), {
          method: form ? 'POST' : 'GET',
          redirect: 'manual',
          headers: {
            cookie: [...jar].map(([k, v]) => `${k}=${v}`).join('; '),
            ...(form ? { 'content-type': 'application/x-www-form-urlencoded' } : {}),
          },
          body: form ? new URLSearchParams(form) : undefined,
        });
        for (const c of res.headers.getSetCookie()) {
          const [pair] = c.split(';');
          const eq = pair!.indexOf('=');
          jar.set(pair!.slice(0, eq), pair!.slice(eq + 1));
        }
        await res.arrayBuffer();
        return res.headers.get('location') ?? '';
      };
      const verifier = randomBytes(32).toString('base64url');
      const auth = new URL('/auth', issuer);
      auth.search = new URLSearchParams({
        client_id: CLI_CLIENT,
        response_type: 'code',
        redirect_uri: REDIRECT,
        scope: 'openid groups profile email',
        state: 'st',
        nonce: 'nc',
        code_challenge: createHash('sha256').update(verifier).digest('base64url'),
        code_challenge_method: 'S256',
      }).toString();
      let next = await go(auth.href);
      let loggedIn = false;
      // auth → login page → auth → consent page → auth → redirect with the code.
      for (let step = 0; step < 8 && !next.startsWith(REDIRECT); step++) {
        if (!next.includes('/interaction/')) next = await go(next);
        else if (!loggedIn) {
          next = await go(next, { prompt: 'login', login: account, password: 'any' });
          loggedIn = true;
        } else next = await go(next, { prompt: 'consent' });
      }
      const code = new URL(next).searchParams.get('code');
      if (!code) throw new Error(`login did not end with a code: ${next}`);
      const res = await fetch(`${issuer}/token`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({
          grant_type: 'authorization_code',
          code,
          redirect_uri: REDIRECT,
          client_id: CLI_CLIENT,
          code_verifier: verifier,
        }),
      });
      const body = (await res.json()) as { id_token?: string };
      if (!res.ok || !body.id_token) throw new Error(`code exchange failed: ${res.status} ${JSON.stringify(body)}`);
      return body.id_token;
    },
    async token(clientId: string, resource = API_RESOURCE) {
      const res = await fetch(`${issuer}/token`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({
          grant_type: 'client_credentials',
          client_id: clientId,
          client_secret: `${clientId}-secret`,
          resource,
          scope: 'api',
        }),
      });
      const body = (await res.json()) as { access_token?: string; error_description?: string };
      if (!res.ok || !body.access_token) throw new Error(`token request failed: ${res.status} ${JSON.stringify(body)}`);
      return body.access_token;
    },
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}
