// The one client implementation lives in @im-repo/client (published for other repositories);
// services reach it through here like the rest of the contract.
export { createClient, DEFAULT_TIMEOUT_MS } from '@im-repo/client';
export type { CallOverrides, ClientOptions, PromiseClient, ServiceInfo } from '@im-repo/client';
