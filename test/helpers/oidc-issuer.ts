/**
 * A real OpenID Connect issuer for tests: `oidc-provider` (a certified OpenID implementation) on an
 * ephemeral port. Tokens come from its token endpoint with the client_credentials grant and a
 * resource indicator (RFC 8707), which makes it issue RFC 9068 JWT access tokens signed with the
 * issuer's published keys; `extraTokenClaims` adds the groups (and profile claims) a real IdP such
 * as Keycloak puts into tokens from its group mappers.
 */
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
  /** token: a fresh JWT access token for `clientId`, for the given resource (audience). */
  token(clientId: string, resource?: string): Promise<string>;
  close(): Promise<void>;
}

export const API_RESOURCE = 'https://gigafab.test/api';

export async function signingKey(): Promise<JWK> {
  const { privateKey } = await generateKeyPair('RS256', { extractable: true });
  return { ...(await exportJWK(privateKey)), kid: 'test-key-1', alg: 'RS256', use: 'sig' };
}

export async function startIssuer(clients: TestClient[], key: JWK): Promise<TestIssuer> {
  let handler: (req: IncomingMessage, res: ServerResponse) => void = (_req, res) => res.end();
  const server = createServer((req, res) => handler(req, res));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const byId = new Map(clients.map((c) => [c.id, c]));
  const provider = new Provider(issuer, {
    clients: clients.map((c) => ({
      client_id: c.id,
      client_secret: `${c.id}-secret`,
      grant_types: ['client_credentials'],
      response_types: [],
      redirect_uris: [],
      token_endpoint_auth_method: 'client_secret_post',
    })),
    jwks: { keys: [key] },
    features: {
      devInteractions: { enabled: false },
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
