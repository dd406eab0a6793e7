/**
 * The part of oidc-provider 9 the test authorization server uses (the package ships no types;
 * @types/oidc-provider describes version 8).
 */
declare module 'oidc-provider' {
  import type { IncomingMessage, ServerResponse } from 'node:http';

  export class Provider {
    constructor(issuer: string, configuration: Record<string, unknown>);
    callback(): (req: IncomingMessage, res: ServerResponse) => Promise<void>;
  }
  export const errors: { InvalidTarget: new (description?: string) => Error };
  export default Provider;
}
