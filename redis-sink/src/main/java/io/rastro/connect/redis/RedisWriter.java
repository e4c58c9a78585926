package io.rastro.connect.redis;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import javax.net.ssl.SSLSocketFactory;
import redis.clients.jedis.DefaultJedisClientConfig;
import redis.clients.jedis.HostAndPort;
import redis.clients.jedis.Jedis;
import redis.clients.jedis.JedisClientConfig;
import redis.clients.jedis.Pipeline;
import redis.clients.jedis.Response;
import redis.clients.jedis.exceptions.JedisConnectionException;
import redis.clients.jedis.exceptions.JedisDataException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Writes validated updates to Redis through one Lua script (apply.lua: per record an atomic hash + geo
 * write with the stale-write guard, or a tombstone), many records per script call and many calls per
 * pipeline round trip. Each status has its own geo set ({@code <geo key>:<status>}), a driver is in
 * its status's alone. Connection trouble surfaces as {@link JedisConnectionException}; the task
 * decides whether to retry.
 */
public final class RedisWriter implements AutoCloseable {
  private static final Logger log = LoggerFactory.getLogger(RedisWriter.class);
  /** What happened to one update. */
  public enum Outcome { APPLIED, STALE, DELETED, FAILED }

  public record Result(Outcome outcome, String error) {}

  static final String APPLY = resource("apply.lua");
  /** The contract's statuses, in the order apply.lua takes their geo sets. */
  public static final List<String> STATUSES = List.of("available", "busy", "offline");
  /**
   * Layout before 0.6.0: one geo set of every driver under the geo key itself. Found on connecting,
   * it is removed together with the cache markers, so the partitions replay and fill the sets by status.
   */
  static final String MIGRATE = "if redis.call('TYPE', KEYS[1]).ok == 'zset' then "
      + "redis.call('DEL', KEYS[1]) if KEYS[2] then redis.call('DEL', KEYS[2]) end return 1 end return 0";
  /** The default of {@code redis.script.batch.size}: records per script call. */
  public static final int DEFAULT_RECORDS_PER_CALL = 100;
  /** The default of {@code redis.stats.key}: newest timestamp written, counts written and deleted. */
  public static final String DEFAULT_STATS_KEY = "drivers:stats";

  private final PrimaryLocator locator;
  private final JedisClientConfig clientConfig;
  private final String keyPrefix;
  private final String geoKey;
  private final List<String> geoKeys;
  private int waitReplicas;
  private long waitTimeoutMs;
  private int recordsPerCall = DEFAULT_RECORDS_PER_CALL;
  private String statsKey = DEFAULT_STATS_KEY;
  private String markerKey;
  private HostAndPort address;
  private Jedis jedis;
  private String applySha;

  public RedisWriter(String host, int port, String user, String password, int timeoutMs,
                     String keyPrefix, String geoKey) {
    this(host, port, user, password, timeoutMs, keyPrefix, geoKey, null);
  }

  /** With {@code tls} non-null, the connection is TLS through that factory and checks the host name. */
  public RedisWriter(String host, int port, String user, String password, int timeoutMs,
                     String keyPrefix, String geoKey, SSLSocketFactory tls) {
    this(List.of(), "", new HostAndPort(host, port), user, password, timeoutMs, keyPrefix, geoKey, tls);
  }

  /**
   * With {@code sentinels} non-empty, every (re)connection asks them where the primary of
   * {@code master} is, so writes follow a failover; otherwise {@code fixed} is the server.
   */
  public RedisWriter(List<HostAndPort> sentinels, String master, HostAndPort fixed, String user, String password,
                     int timeoutMs, String keyPrefix, String geoKey, SSLSocketFactory tls) {
    DefaultJedisClientConfig.Builder b = DefaultJedisClientConfig.builder()
        .connectionTimeoutMillis(timeoutMs).socketTimeoutMillis(timeoutMs).clientName("rastro-redis-sink");
    if (user != null && !user.isEmpty()) {
      b.user(user);
    }
    if (password != null && !password.isEmpty()) {
      b.password(password);
    }
    if (tls != null) {
      b.ssl(true).sslSocketFactory(tls).sslParameters(RedisTls.verifyHostName());
    }
    this.clientConfig = b.build();
    this.locator = sentinels.isEmpty() ? PrimaryLocator.fixed(fixed) : PrimaryLocator.sentinels(sentinels, master, clientConfig);
    this.address = sentinels.isEmpty() ? fixed : null;
    this.keyPrefix = keyPrefix;
    this.geoKey = geoKey;
    this.geoKeys = geoKeys(geoKey);
  }

  /** Every batch must reach {@code replicas} replicas within {@code timeoutMs} (WAIT) before it counts as written. */
  public RedisWriter waitFor(int replicas, long timeoutMs) {
    this.waitReplicas = replicas;
    this.waitTimeoutMs = timeoutMs;
    return this;
  }

  /** Records per script call (1: one call per record). */
  public RedisWriter recordsPerCall(int records) {
    if (records < 1) {
      throw new IllegalArgumentException("records per script call must be at least 1, got " + records);
    }
    this.recordsPerCall = records;
    return this;
  }

  /** The hash where apply.lua keeps the newest timestamp written and counts of writes and deletions. */
  public RedisWriter statsKey(String key) {
    this.statsKey = key;
    return this;
  }

  /** The cache markers' hash: removed with a geo set of the old layout, so that the partitions replay. */
  public RedisWriter markerKey(String key) {
    this.markerKey = key;
    return this;
  }

  /** The geo set of each status, in {@link #STATUSES} order. */
  public static List<String> geoKeys(String geoKey) {
    return STATUSES.stream().map(s -> geoKey + ":" + s).toList();
  }

  /** The server written to last, or where the writer looks for it. */
  public String address() {
    return address != null ? address.toString() : locator.toString();
  }

  private Jedis connection() {
    if (jedis == null || !jedis.isConnected() || jedis.isBroken()) {
      reset();
      address = locator.primary();
      Jedis j = new Jedis(address, clientConfig);
      try {
        if (locator.viaSentinels()) {
          // A Sentinel's answer can trail a failover by a moment: write only to a server that says it is the primary.
          Object role = j.role().get(0);
          String r = role instanceof byte[] b ? new String(b, StandardCharsets.UTF_8) : String.valueOf(role);
          if (!"master".equals(r)) {
            throw new JedisConnectionException(address + " is a " + r + ", not the primary (yet)");
          }
        }
        // SCRIPT LOAD is idempotent; a restarted Redis has forgotten the scripts, so load on connect.
        applySha = j.scriptLoad(APPLY);
        List<String> keys = markerKey == null ? List.of(geoKey) : List.of(geoKey, markerKey);
        if (Long.valueOf(1).equals(j.eval(MIGRATE, keys, List.of()))) {
          log.warn("Redis at {} held a geo set of every driver under {} (the layout before 0.6.0): removed{}", address,
              geoKey, markerKey == null ? "; drivers reappear as they send" : " with the cache markers in " + markerKey
                  + ": the partitions replay and fill the geo sets by status");
        }
      } catch (JedisDataException e) {
        j.close();
        if (isTransient(e)) {
          throw new JedisConnectionException("Redis not ready: " + e.getMessage(), e);
        }
        throw e;
      } catch (RuntimeException e) {
        j.close();
        throw e;
      }
      jedis = j;
    }
    return jedis;
  }

  /**
   * Apply updates in order, chunked into pipelines of {@code batchSize}; with {@link #waitFor}, the
   * whole lot must then reach that many replicas, or it fails like a lost connection (to be retried).
   */
  public List<Result> apply(List<DriverUpdate> updates, int batchSize) {
    List<Result> results = new ArrayList<>(updates.size());
    for (int from = 0; from < updates.size(); from += batchSize) {
      List<DriverUpdate> chunk = updates.subList(from, Math.min(updates.size(), from + batchSize));
      results.addAll(applyChunk(chunk));
    }
    if (waitReplicas > 0 && !updates.isEmpty()) {
      long acked;
      try {
        acked = connection().waitReplicas(waitReplicas, waitTimeoutMs);
      } catch (JedisConnectionException e) {
        reset();
        throw e;
      }
      if (acked < waitReplicas) {
        reset();
        throw new JedisConnectionException("only " + acked + " of " + waitReplicas + " replica(s) of " + address
            + " acknowledged the batch within " + waitTimeoutMs + " ms");
      }
    }
    return results;
  }

  /** The values of {@code fields} in hash {@code key} (null where absent). */
  public List<String> readHash(String key, List<String> fields) {
    if (fields.isEmpty()) {
      return List.of();
    }
    try {
      return connection().hmget(key, fields.toArray(String[]::new));
    } catch (JedisConnectionException e) {
      reset();
      throw e;
    }
  }

  /** Set fields of hash {@code key}. */
  public void writeHash(String key, java.util.Map<String, String> values) {
    if (values.isEmpty()) {
      return;
    }
    try {
      connection().hset(key, values);
    } catch (JedisConnectionException e) {
      reset();
      throw e;
    }
  }

  private List<Result> applyChunk(List<DriverUpdate> chunk) {
    Jedis j = connection();
    Pipeline p = j.pipelined();
    List<Response<Object>> responses = new ArrayList<>();
    for (int from = 0; from < chunk.size(); from += recordsPerCall) {
      List<DriverUpdate> call = chunk.subList(from, Math.min(chunk.size(), from + recordsPerCall));
      List<String> keys = new ArrayList<>(call.size() + 4);
      List<String> args = new ArrayList<>(call.size() * 5);
      keys.addAll(geoKeys);
      keys.add(statsKey);
      for (DriverUpdate u : call) {
        keys.add(keyPrefix + u.driverId());
        args.add(u.driverId());
        if (u.tombstone()) {
          args.add("");
          args.add("");
          args.add("");
          args.add("");
        } else {
          args.add(u.latitude());
          args.add(u.longitude());
          args.add(u.timestamp());
          args.add(u.status());
        }
      }
      responses.add(p.evalsha(applySha, keys, args));
    }
    try {
      p.sync();
    } catch (JedisConnectionException e) {
      reset();
      throw e;
    }
    List<Result> results = new ArrayList<>(chunk.size());
    for (int c = 0; c < responses.size(); c++) {
      int size = Math.min(recordsPerCall, chunk.size() - c * recordsPerCall);
      List<?> replies;
      try {
        replies = (List<?>) responses.get(c).get();
      } catch (JedisDataException e) {
        if (isTransient(e)) {
          // Redis restarted (NOSCRIPT, LOADING) or is momentarily unable to serve: this says nothing
          // about the updates, so retry the batch like a connection loss instead of dead-lettering them.
          reset();
          throw new JedisConnectionException("Redis not ready: " + e.getMessage(), e);
        }
        // The whole call refused (e.g. OOM): each of its records goes to the dead letter queue with that
        // reason, those the call may have applied before the error included, so none is lost unseen.
        for (int i = 0; i < size; i++) {
          results.add(new Result(Outcome.FAILED, e.getMessage()));
        }
        continue;
      }
      for (Object reply : replies) {
        results.add(outcome(reply));
      }
    }
    return results;
  }

  private static Result outcome(Object reply) {
    if (reply instanceof Long l) {
      return switch (l.intValue()) {
        case 1 -> new Result(Outcome.APPLIED, null);
        case 0 -> new Result(Outcome.STALE, null);
        case 2 -> new Result(Outcome.DELETED, null);
        default -> new Result(Outcome.FAILED, "unexpected reply " + l + " from apply.lua");
      };
    }
    String why = reply instanceof byte[] b ? new String(b, StandardCharsets.UTF_8) : String.valueOf(reply);
    return new Result(Outcome.FAILED, why);
  }

  /** Redis errors that describe the server's state, not the command: worth retrying. */
  static boolean isTransient(JedisDataException e) {
    String m = e.getMessage();
    return m != null && TRANSIENT_PREFIXES.stream().anyMatch(m::startsWith);
  }

  private static final List<String> TRANSIENT_PREFIXES =
      List.of("LOADING", "BUSY", "TRYAGAIN", "MASTERDOWN", "NOSCRIPT", "READONLY", "CLUSTERDOWN", "NOREPLICAS");

  public void ping() {
    connection().ping();
  }

  public void reset() {
    if (jedis != null) {
      try {
        jedis.close();
      } catch (RuntimeException ignored) {
        // the connection is being thrown away
      }
      jedis = null;
    }
  }

  @Override
  public void close() {
    reset();
  }

  private static String resource(String name) {
    try (InputStream in = RedisWriter.class.getResourceAsStream(name)) {
      if (in == null) {
        throw new IllegalStateException("missing resource " + name);
      }
      return new String(in.readAllBytes(), StandardCharsets.UTF_8);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }
}
