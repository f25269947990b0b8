// The demo user pool: who can sign in to the local OpenID provider, and with what attributes.

export interface DemoUser {
  /** Cognito's `username` / `cognito:username`; what the login form asks for. */
  readonly username: string;
  readonly password: string;
  /** A UUID, like Cognito's `sub`. */
  readonly sub: string;
  readonly email: string;
  /** Cognito sometimes writes the string "true"; one demo user does. */
  readonly emailVerified: boolean | 'true' | 'false';
  /** `cognito:groups`; the claim is left out when there are none. */
  readonly groups: readonly string[];
  /** `custom:<name>` attributes (always strings, as in Cognito); names without the prefix. */
  readonly customAttributes?: Readonly<Record<string, string>>;
}

export const DEMO_USERS: readonly DemoUser[] = [
  {
    username: 'alice',
    password: 'alice-password',
    sub: '5f1b8c2e-7a4d-4e6b-9c3a-2d8e1f0a6b7c',
    email: 'alice@example.com',
    emailVerified: 'true',
    groups: ['admins', 'users'],
    customAttributes: { tenant: 'acme', department: 'engineering' },
  },
  {
    username: 'bob',
    password: 'bob-password',
    sub: '9a3e6d10-2b5c-4f8e-8d1a-6c4b2e9f0d35',
    email: 'bob@example.com',
    emailVerified: true,
    groups: [],
    customAttributes: { tenant: 'globex' },
  },
];
