import { address, bool, int, list, oneOf, port, string, type ServiceName } from './fields';

export const SERVICES: readonly ServiceName[] = [
  'user',
  'group',
  'message',
  'conversation',
  'presence',
];

/** Default ports per service (API.md). */
export const DEFAULT_PORTS: Record<ServiceName, { grpc: number; metrics: number }> = {
  user: { grpc: 8081, metrics: 9081 },
  group: { grpc: 8082, metrics: 9082 },
  message: { grpc: 8083, metrics: 9083 },
  conversation: { grpc: 8084, metrics: 9084 },
  presence: { grpc: 8085, metrics: 9085 },
};

/**
 * Who may call a service's internal rpcs under mutual TLS (API.md v1.1 "Internal rpcs"): the
 * services that call them. user has no internal rpcs.
 */
export const DEFAULT_INTERNAL_CALLERS: Record<ServiceName, string[]> = {
  user: [],
  group: ['message', 'user'],
  message: ['user', 'conversation'],
  conversation: ['message', 'group', 'user'],
  presence: ['user'],
};

const peer = (service: ServiceName, env: string) =>
  address({
    env,
    default: `127.0.0.1:${DEFAULT_PORTS[service].grpc}`,
    doc: `Address (host:port or dns:///host:port) of the ${service} service`,
  });

/**
 * Every setting of every service, in one tree. File keys are these paths (snake_case); each
 * also has an environment variable. The README's configuration table is checked against this.
 */
export const schema = {
  server: {
    host: string({
      env: 'SERVER_HOST',
      default: '0.0.0.0',
      doc: 'Interface the gRPC server binds',
    }),
    port: port({
      env: 'SERVER_PORT',
      default: (s) => DEFAULT_PORTS[s].grpc,
      shownDefault: '8081-8085 (per service)',
      doc: 'gRPC port',
    }),
    metrics_port: port({
      env: 'METRICS_PORT',
      default: (s) => DEFAULT_PORTS[s].metrics,
      shownDefault: '9081-9085 (per service)',
      doc: 'HTTP port of /metrics',
    }),
    shutdown_timeout_ms: int({
      env: 'SHUTDOWN_TIMEOUT_MS',
      default: 10_000,
      min: 0,
      max: 600_000,
      doc: 'How long SIGTERM waits for in-flight calls before cancelling them',
    }),
    health_interval_ms: int({
      env: 'HEALTH_CHECK_INTERVAL_MS',
      default: 2000,
      min: 100,
      max: 60_000,
      doc: 'How often grpc.health.v1 re-checks MySQL and Redis',
    }),
    keepalive_time_ms: int({
      env: 'GRPC_KEEPALIVE_TIME_MS',
      default: 60_000,
      min: 100,
      max: 7_200_000,
      doc: 'How often the server pings an HTTP/2 connection (keepalive), so streams of vanished clients end',
    }),
    keepalive_timeout_ms: int({
      env: 'GRPC_KEEPALIVE_TIMEOUT_MS',
      default: 20_000,
      min: 100,
      max: 600_000,
      doc: 'How long a keepalive ping may go unanswered before the connection and its calls are closed',
    }),
  },
  tls: {
    cert: string({
      env: 'GRPC_TLS_CERT',
      default: '',
      allowEmpty: true,
      doc: 'PEM certificate file; with GRPC_TLS_KEY, servers speak TLS and peer clients expect it',
    }),
    key: string({
      env: 'GRPC_TLS_KEY',
      default: '',
      allowEmpty: true,
      doc: 'PEM private key file',
    }),
    ca: string({
      env: 'GRPC_TLS_CA',
      default: '',
      allowEmpty: true,
      doc: 'PEM CA file; when set, servers require client certificates signed by it (mutual TLS)',
    }),
    internal_callers: list({
      env: 'INTERNAL_CALLERS',
      default: (s) => DEFAULT_INTERNAL_CALLERS[s],
      shownDefault:
        'conversation: message,group,user; group: message,user; message: user,conversation; presence: user (per service)',
      doc: 'Certificate identities (DNS SAN, else CN) allowed to call internal rpcs under mutual TLS',
    }),
  },
  db: {
    host: string({ env: 'DB_HOST', default: '127.0.0.1', doc: 'MySQL host' }),
    port: port({ env: 'DB_PORT', default: 3306, doc: 'MySQL port' }),
    user: string({ env: 'DB_USER', default: 'root', doc: 'MySQL user' }),
    password: string({ env: 'DB_PASSWORD', default: '', allowEmpty: true, doc: 'MySQL password' }),
    name: string({ env: 'DB_NAME', default: 'im_repo', doc: 'MySQL database' }),
    pool_max: int({
      env: 'DB_POOL_MAX',
      default: 20,
      min: 1,
      max: 1000,
      doc: 'Connection pool size',
    }),
    connect_timeout_ms: int({
      env: 'DB_CONNECT_TIMEOUT_MS',
      default: 3000,
      min: 100,
      max: 60_000,
      doc: 'Connect timeout; also how long a call waits for a pooled connection',
    }),
    auto_migrate: bool({
      env: 'DB_AUTO_MIGRATE',
      default: true,
      doc: 'Create the database if missing and run pending migrations at start',
    }),
  },
  redis: {
    host: string({ env: 'REDIS_HOST', default: '127.0.0.1', doc: 'Redis host' }),
    port: port({ env: 'REDIS_PORT', default: 6379, doc: 'Redis port' }),
    password: string({
      env: 'REDIS_PASSWORD',
      default: '',
      allowEmpty: true,
      doc: 'Redis password',
    }),
    db: int({
      env: 'REDIS_DB',
      default: 0,
      min: 0,
      max: 15,
      doc: 'Redis database (standalone only)',
    }),
    cluster_nodes: list({
      env: 'REDIS_CLUSTER_NODES',
      default: [],
      shownDefault: '(empty)',
      doc: 'Comma-separated host:port seeds; when set, Redis Cluster is used instead of REDIS_HOST',
    }),
    key_prefix: string({
      env: 'REDIS_KEY_PREFIX',
      default: '',
      allowEmpty: true,
      doc: 'Prefix of every key and channel (lets deployments or test runs share one Redis)',
    }),
    command_timeout_ms: int({
      env: 'REDIS_COMMAND_TIMEOUT_MS',
      default: 1000,
      min: 10,
      max: 60_000,
      doc: 'A Redis command slower than this counts as a Redis failure',
    }),
  },
  log: {
    level: oneOf({
      env: 'LOG_LEVEL',
      default: 'info',
      values: ['error', 'warn', 'info', 'debug'] as const,
      doc: 'Log level',
    }),
  },
  tracing: {
    otlp_endpoint: string({
      env: 'OTEL_EXPORTER_OTLP_ENDPOINT',
      default: '',
      allowEmpty: true,
      doc: 'OTLP collector URL (e.g. http://collector:4318) for gRPC spans; off when empty',
    }),
  },
  cache: {
    ttl_seconds: int({
      env: 'CACHE_TTL_SECONDS',
      default: 3600,
      min: 1,
      max: 30 * 86400,
      doc: 'TTL of cached entities (a random jitter of up to 10% is added)',
    }),
    negative_ttl_seconds: int({
      env: 'CACHE_NEGATIVE_TTL_SECONDS',
      default: 30,
      min: 1,
      max: 3600,
      doc: 'TTL of cached "not found" answers',
    }),
  },
  peers: {
    user: peer('user', 'USER_SERVICE_ADDR'),
    group: peer('group', 'GROUP_SERVICE_ADDR'),
    message: peer('message', 'MESSAGE_SERVICE_ADDR'),
    conversation: peer('conversation', 'CONVERSATION_SERVICE_ADDR'),
    presence: peer('presence', 'PRESENCE_SERVICE_ADDR'),
    timeout_ms: int({
      env: 'PEER_TIMEOUT_MS',
      default: 3000,
      min: 50,
      max: 60_000,
      doc: 'Deadline of every call to a peer service',
    }),
  },
  user: {
    login_max_failures: int({
      env: 'LOGIN_MAX_FAILURES',
      default: 5,
      min: 1,
      max: 1000,
      doc: 'Failed logins per username allowed within the window',
    }),
    login_window_seconds: int({
      env: 'LOGIN_WINDOW_SECONDS',
      default: 900,
      min: 1,
      max: 86400,
      doc: 'Login failure window',
    }),
    scrypt_cost: int({
      env: 'SCRYPT_COST',
      default: 16384,
      min: 1024,
      max: 1 << 20,
      doc: 'scrypt N for new password hashes (a power of two); stored hashes keep their own',
    }),
    hash_concurrency: int({
      env: 'PASSWORD_HASH_CONCURRENCY',
      default: 2,
      min: 1,
      max: 64,
      doc: "Password hashes computed at once (libuv's thread pool has 4 threads by default)",
    }),
    hash_queue_max: int({
      env: 'PASSWORD_HASH_QUEUE_MAX',
      default: 64,
      min: 0,
      max: 100_000,
      doc: 'Password hashes waiting for a slot; beyond it a call is RESOURCE_EXHAUSTED OVERLOADED',
    }),
    delete_erases_content: bool({
      env: 'USER_DELETE_ERASES_CONTENT',
      default: false,
      doc: 'DeleteUser also erases every message the user sent (status DELETED, empty content)',
    }),
  },
  group: {
    max_members: int({
      env: 'GROUP_MAX_MEMBERS',
      default: 2000,
      min: 2,
      max: 1_000_000,
      doc: 'Member cap of a group',
    }),
  },
  message: {
    max_content_bytes: int({
      env: 'MESSAGE_MAX_CONTENT_BYTES',
      default: 65536,
      min: 1,
      // NATS's default max payload; every message must also fit a 4 MiB answer with room.
      max: 1_048_576,
      doc: 'Largest message content (at most 1 MiB)',
    }),
    recall_window_seconds: int({
      env: 'MESSAGE_RECALL_WINDOW_SECONDS',
      default: 120,
      min: 0,
      max: 30 * 86400,
      doc: 'How long a sender may recall a message',
    }),
    retention_seconds: int({
      env: 'MESSAGE_RETENTION_SECONDS',
      default: 0,
      min: 0,
      max: 100 * 365 * 86400,
      doc: 'How long messages stay readable (0 = forever); older ones expire: content erased, seq kept',
    }),
    batch_max_size: int({
      env: 'SEND_BATCH_MAX_SIZE',
      default: 256,
      min: 1,
      max: 4096,
      doc: 'Most sends committed in one transaction (group commit)',
    }),
    batch_max_wait_ms: int({
      env: 'SEND_BATCH_MAX_WAIT_MS',
      default: 2,
      min: 0,
      max: 1000,
      doc: 'Longest a send waits for others to share its commit',
    }),
    send_queue_max: int({
      env: 'SEND_QUEUE_MAX',
      default: 10_000,
      min: 1,
      max: 1_000_000,
      doc: 'Sends waiting for a commit; beyond it SendMessage is RESOURCE_EXHAUSTED OVERLOADED',
    }),
    outbox_interval_ms: int({
      env: 'OUTBOX_DRAIN_INTERVAL_MS',
      default: 1000,
      min: 50,
      max: 60_000,
      doc: 'How often undelivered conversation records are retried',
    }),
  },
  conversation: {
    list_cursor_ttl_seconds: int({
      env: 'CONVERSATION_LIST_CURSOR_TTL_SECONDS',
      default: 300,
      min: 10,
      max: 86_400,
      doc: 'How long a ListConversations walk keeps its snapshot after its last page',
    }),
  },
  events: {
    nats_url: string({
      env: 'EVENTS_NATS_URL',
      default: '',
      allowEmpty: true,
      doc: 'NATS server(s) of the change events, comma-separated (e.g. nats://127.0.0.1:4222); empty: events off',
    }),
    stream: string({
      env: 'EVENTS_STREAM',
      default: 'IM_EVENTS',
      doc: 'JetStream stream of the events (created when missing)',
    }),
    subject_prefix: string({
      env: 'EVENTS_SUBJECT_PREFIX',
      default: 'im.events',
      doc: 'Subject prefix: events go to <prefix>.<domain>.<kind>.<key>; the stream takes <prefix>.>',
    }),
    max_age_hours: int({
      env: 'EVENTS_MAX_AGE_HOURS',
      default: 168,
      min: 1,
      max: 87_600,
      doc: 'How long the stream keeps an event (erased or expired content included)',
    }),
  },
  presence: {
    default_ttl_seconds: int({
      env: 'PRESENCE_DEFAULT_TTL_SECONDS',
      default: 60,
      min: 5,
      max: 600,
      doc: 'Heartbeat TTL when the request leaves it 0',
    }),
    max_devices_per_user: int({
      env: 'PRESENCE_MAX_DEVICES',
      default: 100,
      min: 1,
      max: 10_000,
      doc: 'Live devices one user may have; a new one beyond it is RESOURCE_EXHAUSTED',
    }),
    sweep_interval_ms: int({
      env: 'PRESENCE_SWEEP_INTERVAL_MS',
      default: 500,
      min: 50,
      max: 10_000,
      doc: 'How often expired devices are found and announced',
    }),
    last_seen_ttl_seconds: int({
      env: 'PRESENCE_LAST_SEEN_TTL_SECONDS',
      default: 2_592_000,
      min: 1,
      max: 10 * 366 * 86_400,
      doc: "How long last_seen_at is kept after a user's last device went offline; then the user reads as never seen",
    }),
    max_watch_streams: int({
      env: 'PRESENCE_MAX_WATCH_STREAMS',
      default: 10_000,
      min: 1,
      max: 1_000_000,
      doc: 'WatchStatus streams one server holds; beyond it RESOURCE_EXHAUSTED TOO_MANY_STREAMS',
    }),
  },
};
