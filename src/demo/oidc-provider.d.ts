// oidc-provider 9 ships no type declarations (and @types/oidc-provider is not installed): these
// are the few parts of its API that src/demo uses, checked against its lib/ sources.

declare module 'oidc-provider' {
  import type { IncomingMessage, ServerResponse } from 'node:http';
  import type { EventEmitter } from 'node:events';

  export interface Cookies {
    set(name: string, value: string | null, options?: Record<string, unknown>): void;
  }

  export interface Grant {
    addOIDCScope(scope: string): void;
    addOIDCClaims(claims: readonly string[]): void;
    addResourceScope(resource: string, scope: string): void;
    save(): Promise<string>;
  }

  export interface Session {
    accountId?: string;
    grantIdFor(clientId: string): string | undefined;
    destroy(): Promise<void>;
  }

  export interface Client {
    readonly clientId: string;
    readonly scope?: string;
    grantTypeAllowed(grantType: string): boolean;
  }

  /** An AccessToken or ClientCredentials model. */
  export interface AccessTokenModel {
    readonly kind: 'AccessToken' | 'ClientCredentials';
    readonly accountId?: string;
    readonly clientId: string;
    readonly grantId?: string;
    readonly scope?: string;
  }

  export interface OIDCContext {
    readonly provider: Provider;
    readonly route: string;
    readonly params?: Readonly<Record<string, unknown>>;
    readonly client?: Client;
    readonly session?: Session;
    readonly result?: { readonly consent?: { readonly grantId?: string } };
    readonly requestParamScopes: ReadonlySet<string>;
    readonly requestParamClaims: ReadonlySet<string>;
    readonly entities: {
      readonly AuthorizationCode?: { readonly authTime?: number; readonly grantId?: string };
      readonly RefreshToken?: { readonly authTime?: number; readonly grantId?: string };
      readonly Grant?: { readonly jti: string };
    };
  }

  export interface KoaContextWithOIDC {
    readonly oidc: OIDCContext;
    readonly path: string;
    readonly method: string;
    readonly cookies: Cookies;
    type: string;
    body: unknown;
  }

  export interface Account {
    accountId: string;
    claims(use: 'id_token' | 'userinfo', scope: string, claims: unknown, rejected: readonly string[]): Promise<Record<string, unknown>> | Record<string, unknown>;
  }

  /** What `formats.customizers.jwt` may change before the JWT access token is signed. */
  export interface StructuredJwt {
    header: Record<string, unknown> | undefined;
    payload: Record<string, unknown>;
  }

  export interface InteractionDetails {
    readonly uid: string;
    readonly prompt: { readonly name: string; readonly reasons: readonly string[] };
    readonly params: Readonly<Record<string, unknown>>;
  }

  export type Configuration = Readonly<Record<string, unknown>>;

  export class Provider extends EventEmitter {
    constructor(issuer: string, configuration: Configuration);
    readonly issuer: string;
    readonly Grant: {
      new (properties: { accountId: string; clientId: string }): Grant;
      find(id: string): Promise<Grant | undefined>;
    };
    readonly Session: { get(ctx: KoaContextWithOIDC): Promise<Session> };
    callback(): (req: IncomingMessage, res: ServerResponse) => void;
    use(middleware: (ctx: KoaContextWithOIDC, next: () => Promise<void>) => Promise<void>): this;
    createContext(req: IncomingMessage, res: ServerResponse): KoaContextWithOIDC;
    cookieName(type: 'session' | 'interaction' | 'resume'): string;
    interactionDetails(req: IncomingMessage, res: ServerResponse): Promise<InteractionDetails>;
    interactionFinished(req: IncomingMessage, res: ServerResponse, result: Record<string, unknown>, options?: { mergeWithLastSubmission?: boolean }): Promise<void>;
  }

  export const errors: {
    readonly InvalidScope: new (description: string, scope?: string) => Error;
    readonly InvalidTarget: new (description?: string) => Error;
  };

  export default Provider;
}

declare module 'oidc-provider/lib/adapters/memory_adapter.js' {
  /** oidc-provider's in-memory adapter (an LRU of 1,000 entries) with a store of its own. */
  export function createMemoryAdapter(clockTolerance?: number): (model: string) => unknown;
}
