export { ConfigError, configKeys, loadConfig, readConfigFile } from './load';
export type { Config, DeepPartial, KeyInfo, LoadOptions } from './load';
export { DEFAULT_INTERNAL_CALLERS, DEFAULT_PORTS, SERVICES, schema } from './schema';
export type { ServiceName } from './fields';
