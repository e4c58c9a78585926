package io.rastro.connect.redis;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;
import org.apache.kafka.common.config.AbstractConfig;
import org.apache.kafka.common.config.ConfigDef;
import org.apache.kafka.common.config.ConfigDef.Importance;
import org.apache.kafka.common.config.ConfigDef.Range;
import org.apache.kafka.common.config.ConfigDef.Type;
import org.apache.kafka.common.config.ConfigException;
import org.apache.kafka.common.config.types.Password;

/** The connector's settings; Connect's REST API reports a bad value with the key and the reason. */
public final class RedisSinkConfig extends AbstractConfig {
  public static final String HOST = "redis.host";
  public static final String PORT = "redis.port";
  public static final String USER = "redis.user";
  public static final String PASSWORD = "redis.password";
  public static final String KEY_PREFIX = "redis.key.prefix";
  public static final String GEO_KEY = "redis.geo.key";
  public static final String BATCH_SIZE = "redis.batch.size";
  public static final String TIMEOUT_MS = "redis.timeout.ms";
  public static final String MAX_RETRIES = "redis.max.retries";
  public static final String RETRY_BACKOFF_MS = "redis.retry.backoff.ms";
  public static final String TLS_ENABLED = "redis.tls.enabled";
  public static final String TLS_CA_FILE = "redis.tls.ca.file";
  public static final String MAX_FUTURE_SKEW_MS = "timestamp.max.future.skew.ms";

  private static final ConfigDef.Validator NON_BLANK = (name, value) -> {
    if (value == null || value.toString().isBlank()) {
      throw new ConfigException(name, value, "must not be empty");
    }
    if (value.toString().chars().anyMatch(Character::isWhitespace)) {
      throw new ConfigException(name, value, "must not contain whitespace");
    }
  };

  private static final ConfigDef.Validator READABLE_OR_EMPTY = (name, value) -> {
    String file = value == null ? "" : value.toString();
    if (!file.isEmpty() && !Files.isReadable(Path.of(file))) {
      throw new ConfigException(name, value, "is not a readable file");
    }
  };

  public static final ConfigDef CONFIG_DEF = new ConfigDef()
      .define(HOST, Type.STRING, ConfigDef.NO_DEFAULT_VALUE, NON_BLANK, Importance.HIGH,
          "Redis host name or address.")
      .define(PORT, Type.INT, 6379, Range.between(1, 65535), Importance.HIGH, "Redis port.")
      .define(USER, Type.STRING, "", Importance.MEDIUM,
          "Redis ACL user; empty for the default user.")
      .define(PASSWORD, Type.PASSWORD, "", Importance.HIGH, "Password of the Redis user.")
      .define(KEY_PREFIX, Type.STRING, "driver:", NON_BLANK, Importance.MEDIUM,
          "Prefix of the per-driver hash key; the key is prefix + driver_id.")
      .define(GEO_KEY, Type.STRING, "drivers:geo", NON_BLANK, Importance.MEDIUM,
          "Key of the geo set holding every driver's position.")
      .define(BATCH_SIZE, Type.INT, 500, Range.between(1, 100_000), Importance.MEDIUM,
          "Updates sent to Redis in one pipeline.")
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
              + "(the stale-write guard would otherwise hold its driver on it until the clock caught up).");

  public RedisSinkConfig(Map<String, String> props) {
    super(CONFIG_DEF, props);
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
  public int batchSize() { return getInt(BATCH_SIZE); }
  public int timeoutMs() { return getInt(TIMEOUT_MS); }
  public int maxRetries() { return getInt(MAX_RETRIES); }
  public long retryBackoffMs() { return getLong(RETRY_BACKOFF_MS); }
  public boolean tlsEnabled() { return getBoolean(TLS_ENABLED); }
  public String tlsCaFile() { return getString(TLS_CA_FILE); }
  public Duration maxFutureSkew() { return Duration.ofMillis(getLong(MAX_FUTURE_SKEW_MS)); }
}
