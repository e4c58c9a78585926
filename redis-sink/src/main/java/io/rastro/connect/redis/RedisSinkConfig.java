package io.rastro.connect.redis;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import org.apache.kafka.common.config.AbstractConfig;
import org.apache.kafka.common.config.ConfigDef;
import org.apache.kafka.common.config.ConfigDef.Importance;
import org.apache.kafka.common.config.ConfigDef.Range;
import org.apache.kafka.common.config.ConfigDef.Type;
import org.apache.kafka.common.config.ConfigException;
import org.apache.kafka.common.config.types.Password;
import redis.clients.jedis.HostAndPort;

/** The connector's settings; Connect's REST API reports a bad value with the key and the reason. */
public final class RedisSinkConfig extends AbstractConfig {
  public static final String HOST = "redis.host";
  public static final String PORT = "redis.port";
  public static final String USER = "redis.user";
  public static final String PASSWORD = "redis.password";
  public static final String KEY_PREFIX = "redis.key.prefix";
  public static final String GEO_KEY = "redis.geo.key";
  public static final String BATCH_SIZE = "redis.batch.size";
  public static final String SCRIPT_BATCH_SIZE = "redis.script.batch.size";
  public static final String STATS_KEY = "redis.stats.key";
  public static final String TIMEOUT_MS = "redis.timeout.ms";
  public static final String MAX_RETRIES = "redis.max.retries";
  public static final String RETRY_BACKOFF_MS = "redis.retry.backoff.ms";
  public static final String TLS_ENABLED = "redis.tls.enabled";
  public static final String TLS_CA_FILE = "redis.tls.ca.file";
  public static final String MAX_FUTURE_SKEW_MS = "timestamp.max.future.skew.ms";
  public static final String SENTINELS = "redis.sentinels";
  public static final String SENTINEL_MASTER = "redis.sentinel.master";
  public static final String HOSTS = "redis.hosts";
  public static final String WAIT_REPLICAS = "redis.wait.replicas";
  public static final String WAIT_TIMEOUT_MS = "redis.wait.timeout.ms";
  public static final String REPLAY_ENABLED = "cache.replay.enabled";
  public static final String REPLAY_MARKER_KEY = "cache.replay.marker.key";
  public static final String REPLAY_CHECK_INTERVAL_MS = "cache.replay.check.interval.ms";
  public static final String REPLAY_ADMIN_CONFIG_FILE = "cache.replay.admin.config.file";

  private static final ConfigDef.Validator NON_BLANK = (name, value) -> {
    if (value == null || value.toString().isBlank()) {
      throw new ConfigException(name, value, "must not be empty");
    }
    if (value.toString().chars().anyMatch(Character::isWhitespace)) {
      throw new ConfigException(name, value, "must not contain whitespace");
    }
  };

  private static final ConfigDef.Validator HOST_PORT_LIST = (name, value) -> {
    @SuppressWarnings("unchecked")
    List<String> entries = value == null ? List.of() : (List<String>) value;
    for (String entry : entries) {
      try {
        hostAndPort(entry);
      } catch (IllegalArgumentException e) {
        throw new ConfigException(name, value, e.getMessage());
      }
    }
  };

  private static final ConfigDef.Validator NON_BLANK_LIST = (name, value) -> {
    @SuppressWarnings("unchecked")
    List<String> entries = value == null ? List.of() : (List<String>) value;
    if (entries.isEmpty()) {
      throw new ConfigException(name, value, "must name at least one primary");
    }
    for (String entry : entries) {
      NON_BLANK.ensureValid(name, entry);
    }
  };

  private static final ConfigDef.Validator READABLE_OR_EMPTY = (name, value) -> {
    String file = value == null ? "" : value.toString();
    if (!file.isEmpty() && !Files.isReadable(Path.of(file))) {
      throw new ConfigException(name, value, "is not a readable file");
    }
  };

  public static final ConfigDef CONFIG_DEF = new ConfigDef()
      .define(HOST, Type.STRING, "", Importance.HIGH,
          "Redis host name or address, when no Sentinels are given (redis.sentinels).")
      .define(PORT, Type.INT, 6379, Range.between(1, 65535), Importance.HIGH, "Redis port.")
      .define(USER, Type.STRING, "", Importance.MEDIUM,
          "Redis ACL user; empty for the default user.")
      .define(PASSWORD, Type.PASSWORD, "", Importance.HIGH, "Password of the Redis user.")
      .define(KEY_PREFIX, Type.STRING, "driver:", NON_BLANK, Importance.MEDIUM,
          "Prefix of the per-driver hash key; the key is prefix + driver_id.")
      .define(GEO_KEY, Type.STRING, "drivers:geo", NON_BLANK, Importance.MEDIUM,
          "Prefix of the geo sets of driver positions, one per status: <key>:available, <key>:busy, "
              + "<key>:offline; a driver is in its status's set alone.")
      .define(STATS_KEY, Type.STRING, RedisWriter.DEFAULT_STATS_KEY, NON_BLANK, Importance.LOW,
          "Hash where the sink keeps the newest timestamp it wrote (field newest) and counts of updates written "
              + "(applied) and drivers deleted (deleted): a monitor reads freshness from it without scanning the drivers.")
      .define(BATCH_SIZE, Type.INT, 500, Range.between(1, 100_000), Importance.MEDIUM,
          "Updates sent to Redis in one pipeline (one round trip).")
      .define(SCRIPT_BATCH_SIZE, Type.INT, RedisWriter.DEFAULT_RECORDS_PER_CALL, Range.between(1, 10_000), Importance.LOW,
          "Updates applied by one call of the sink's Lua script (several calls per pipeline). Larger calls cost "
              + "Redis less CPU per update (measured in README, make bench-scale) and block other clients longer.")
      .define(TIMEOUT_MS, Type.INT, 2000, Range.between(100, 600_000), Importance.LOW,
          "Socket and connect timeout for Redis.")
      .define(MAX_RETRIES, Type.INT, 30, Range.atLeast(0), Importance.MEDIUM,
          "Consecutive failed attempts to reach Redis before the task fails.")
      .define(RETRY_BACKOFF_MS, Type.LONG, 1000L, Range.between(10L, 600_000L), Importance.LOW,
          "Wait before Connect redelivers a batch that Redis could not take.")
      .define(TLS_ENABLED, Type.BOOLEAN, false, Importance.HIGH,
          "Connect to Redis over TLS; the server's certificate must name redis.host.")
      .define(TLS_CA_FILE, Type.STRING, "", READABLE_OR_EMPTY, Importance.MEDIUM,
          "PEM file of the CA certificates that sign Redis's certificate; empty for the JVM's trust store.")
      .define(MAX_FUTURE_SKEW_MS, Type.LONG, UpdateParser.DEFAULT_MAX_FUTURE_SKEW.toMillis(),
          Range.between(0L, 86_400_000L), Importance.MEDIUM,
          "An update stamped further than this ahead of the sink's clock goes to the dead letter queue "
              + "(the stale-write guard would otherwise hold its driver on it until the clock caught up).")
      .define(SENTINELS, Type.LIST, "", HOST_PORT_LIST, Importance.HIGH,
          "Sentinels (host:port, comma-separated) asked where the primary is; each (re)connection asks again, "
              + "so writes follow a failover. Empty: redis.host is the server. The Sentinels take redis.user "
              + "and redis.password, and TLS as Redis does.")
      .define(SENTINEL_MASTER, Type.LIST, "rastro", NON_BLANK_LIST, Importance.MEDIUM,
          "Name(s) under which the Sentinels watch the primary. Several names: one shard each; a driver lives on "
              + "shard CRC32(driver_id) mod N, in the order given (docs/contracts.md).")
      .define(HOSTS, Type.LIST, "", HOST_PORT_LIST, Importance.MEDIUM,
          "Without Sentinels: the primaries (host:port, comma-separated), one shard each, in order; a driver lives "
              + "on shard CRC32(driver_id) mod N. Empty: redis.host and redis.port.")
      .define(WAIT_REPLICAS, Type.INT, 0, Range.between(0, 16), Importance.HIGH,
          "Replicas that must have each batch (WAIT) before its offsets may be committed; fewer and the "
              + "batch is retried, so a failover cannot lose an update the sink let Kafka forget. 0: no WAIT.")
      .define(WAIT_TIMEOUT_MS, Type.LONG, 2000L, Range.between(1L, 60_000L), Importance.LOW,
          "How long WAIT may block for redis.wait.replicas.")
      .define(REPLAY_ENABLED, Type.BOOLEAN, true, Importance.HIGH,
          "Keep a marker per partition in Redis (cache.replay.marker.key); when Redis lost it (data lost, "
              + "FLUSHALL, a replica promoted empty) replay that partition from its first offset, so every driver "
              + "still in the compacted topic comes back.")
      .define(REPLAY_MARKER_KEY, Type.STRING, "drivers:replay", NON_BLANK, Importance.LOW,
          "Hash holding the markers: field <topic>:<partition>, value live or the replay's progress.")
      .define(REPLAY_CHECK_INTERVAL_MS, Type.LONG, 1000L, Range.between(0L, 600_000L), Importance.LOW,
          "How often the markers are read.")
      .define(REPLAY_ADMIN_CONFIG_FILE, Type.STRING, "", READABLE_OR_EMPTY, Importance.MEDIUM,
          "Kafka client properties (e.g. the worker's own file) for the admin client that reads a partition's "
              + "end offset when a replay starts: bootstrap.servers and the admin.-prefixed keys. Empty: the "
              + "replay ends at the last offset this task had written.");

  public RedisSinkConfig(Map<String, String> props) {
    super(CONFIG_DEF, props);
    if (!sentinels().isEmpty() && !hosts().isEmpty()) {
      throw new ConfigException(HOSTS, getList(HOSTS), "must be empty when " + SENTINELS + " is set (the Sentinels name the primaries)");
    }
    if (getString(HOST).isBlank() && sentinels().isEmpty() && hosts().isEmpty()) {
      throw new ConfigException(HOST, getString(HOST), "must be set when " + SENTINELS + " and " + HOSTS + " are empty");
    }
    if (!getString(HOST).isBlank()) {
      NON_BLANK.ensureValid(HOST, getString(HOST));
    }
  }

  /** "host:port" as a {@link HostAndPort}; the message says what is wrong with it. */
  static HostAndPort hostAndPort(String entry) {
    String e = entry.trim();
    int colon = e.lastIndexOf(':');
    if (colon <= 0 || colon == e.length() - 1) {
      throw new IllegalArgumentException("'" + e + "' is not host:port");
    }
    int port;
    try {
      port = Integer.parseInt(e.substring(colon + 1));
    } catch (NumberFormatException nfe) {
      throw new IllegalArgumentException("'" + e + "' has no numeric port");
    }
    if (port < 1 || port > 65535) {
      throw new IllegalArgumentException("'" + e + "' has port " + port + ", outside 1..65535");
    }
    return new HostAndPort(e.substring(0, colon), port);
  }

  public String host() { return getString(HOST); }
  public int port() { return getInt(PORT); }
  public String user() { return getString(USER); }
  public String password() {
    Password p = getPassword(PASSWORD);
    return p == null ? "" : p.value();
  }
  public String keyPrefix() { return getString(KEY_PREFIX); }
  public String geoKey() { return getString(GEO_KEY); }

  public String statsKey() { return getString(STATS_KEY); }
  public int batchSize() { return getInt(BATCH_SIZE); }

  public int scriptBatchSize() { return getInt(SCRIPT_BATCH_SIZE); }
  public int timeoutMs() { return getInt(TIMEOUT_MS); }
  public int maxRetries() { return getInt(MAX_RETRIES); }
  public long retryBackoffMs() { return getLong(RETRY_BACKOFF_MS); }
  public boolean tlsEnabled() { return getBoolean(TLS_ENABLED); }
  public String tlsCaFile() { return getString(TLS_CA_FILE); }
  public Duration maxFutureSkew() { return Duration.ofMillis(getLong(MAX_FUTURE_SKEW_MS)); }
  public List<HostAndPort> sentinels() {
    return getList(SENTINELS).stream().filter(s -> !s.isBlank()).map(RedisSinkConfig::hostAndPort).toList();
  }
  /** The Sentinels' names of the primaries, one per shard. */
  public List<String> sentinelMasters() { return getList(SENTINEL_MASTER).stream().map(String::trim).toList(); }

  /** Fixed primaries, one per shard (without Sentinels); empty: redis.host and redis.port. */
  public List<HostAndPort> hosts() {
    return getList(HOSTS).stream().filter(s -> !s.isBlank()).map(RedisSinkConfig::hostAndPort).toList();
  }
  public int waitReplicas() { return getInt(WAIT_REPLICAS); }
  public long waitTimeoutMs() { return getLong(WAIT_TIMEOUT_MS); }
  public boolean replayEnabled() { return getBoolean(REPLAY_ENABLED); }
  public String replayMarkerKey() { return getString(REPLAY_MARKER_KEY); }
  public long replayCheckIntervalMs() { return getLong(REPLAY_CHECK_INTERVAL_MS); }
  public String replayAdminConfigFile() { return getString(REPLAY_ADMIN_CONFIG_FILE); }
}
