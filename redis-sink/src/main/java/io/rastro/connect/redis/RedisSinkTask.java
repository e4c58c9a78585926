package io.rastro.connect.redis;

import java.time.Clock;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.Map;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.connect.errors.ConnectException;
import org.apache.kafka.connect.errors.DataException;
import org.apache.kafka.connect.errors.RetriableException;
import org.apache.kafka.connect.sink.ErrantRecordReporter;
import org.apache.kafka.connect.sink.SinkRecord;
import org.apache.kafka.connect.sink.SinkTask;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import redis.clients.jedis.HostAndPort;
import redis.clients.jedis.exceptions.JedisConnectionException;
import redis.clients.jedis.exceptions.JedisDataException;

/**
 * Applies a batch of driver-locations records to Redis in partition order. Malformed records go
 * to the dead letter queue through Connect's errant-record reporter and the batch goes on;
 * Redis being unreachable makes the batch retriable until {@code redis.max.retries} is spent.
 */
public class RedisSinkTask extends SinkTask {
  private static final Logger log = LoggerFactory.getLogger(RedisSinkTask.class);

  private RedisSinkConfig config;
  private ShardedWriter writer;
  private CacheReplay replay;
  private KafkaEndOffsets endOffsets;
  private UpdateParser parser;
  private ErrantRecordReporter reporter;
  private int failedAttempts;
  private long applied;
  private long stale;
  private long deleted;
  private long invalid;
  private long coalesced;

  @Override
  public String version() {
    return Version.VERSION;
  }

  @Override
  public void start(Map<String, String> props) {
    config = new RedisSinkConfig(props);
    parser = new UpdateParser(Clock.systemUTC(), config.maxFutureSkew());
    writer = new ShardedWriter(shardWriters());
    if (config.replayEnabled()) {
      endOffsets = config.replayAdminConfigFile().isEmpty() ? null : new KafkaEndOffsets(config.replayAdminConfigFile());
      replay = new CacheReplay(config.replayMarkerKey(), config.replayCheckIntervalMs(), Clock.systemUTC(), endOffsets);
    }
    try {
      reporter = context.errantRecordReporter();
    } catch (NoSuchMethodError | NoClassDefFoundError e) {
      reporter = null; // a Connect runtime older than 2.6
    }
    log.info("rastro Redis sink task started: redis={} shards={} tls={} prefix={} geo={} batch={} per script call={} dlq={} max future skew={} "
        + "wait replicas={} replay marker={}", writer.address(), writer.size(), config.tlsEnabled(), config.keyPrefix(), config.geoKey(),
        config.batchSize(), config.scriptBatchSize(), reporter != null, config.maxFutureSkew(), config.waitReplicas(),
        config.replayEnabled() ? config.replayMarkerKey() : "off");
  }

  /** One writer per shard, in shard order: each primary the Sentinels name, or each fixed address. */
  private List<RedisWriter> shardWriters() {
    if (!config.sentinels().isEmpty()) {
      return config.sentinelMasters().stream().map(master -> writerFor(master, null)).toList();
    }
    List<HostAndPort> hosts = config.hosts().isEmpty() ? List.of(new HostAndPort(config.host(), config.port())) : config.hosts();
    return hosts.stream().map(h -> writerFor("", h)).toList();
  }

  private RedisWriter writerFor(String master, HostAndPort fixed) {
    return new RedisWriter(config.sentinels(), master, fixed, config.user(), config.password(), config.timeoutMs(),
        config.keyPrefix(), config.geoKey(), config.tlsEnabled() ? RedisTls.socketFactory(config.tlsCaFile()) : null)
        .waitFor(config.waitReplicas(), config.waitTimeoutMs()).recordsPerCall(config.scriptBatchSize())
        .statsKey(config.statsKey()).markerKey(config.replayEnabled() ? config.replayMarkerKey() : null);
  }

  /** Test hook: where a replay ends, instead of an admin client. */
  void endOffsets(CacheReplay.EndOffsets offsets) {
    replay = new CacheReplay(config.replayMarkerKey(), config.replayCheckIntervalMs(), Clock.systemUTC(), offsets);
  }

  @Override
  public void open(Collection<TopicPartition> partitions) {
    if (replay != null) {
      replay.checkSoon();
    }
  }

  @Override
  public void close(Collection<TopicPartition> partitions) {
    if (replay != null) {
      replay.closed(partitions);
    }
  }

  @Override
  public void put(Collection<SinkRecord> records) {
    if (records.isEmpty()) {
      checkCache();
      return;
    }
    List<DriverUpdate> updates = new ArrayList<>(records.size());
    List<SinkRecord> sources = new ArrayList<>(records.size());
    List<SinkRecord> bad = new ArrayList<>();
    List<Exception> reasons = new ArrayList<>();
    for (SinkRecord record : records) {
      try {
        updates.add(parser.parse(record.key(), record.value()));
        sources.add(record);
      } catch (InvalidRecordException e) {
        bad.add(record);
        reasons.add(e);
      }
    }
    // Only the writes that decide each driver's final state: a replay's superseded updates never reach Redis.
    List<Integer> chosen = Coalescer.writes(updates);
    List<DriverUpdate> writes = new ArrayList<>(chosen.size());
    List<SinkRecord> writeSources = new ArrayList<>(chosen.size());
    for (int i : chosen) {
      writes.add(updates.get(i));
      writeSources.add(sources.get(i));
    }
    coalesced += updates.size() - writes.size();
    List<RedisWriter.Result> results;
    try {
      results = writer.apply(writes, config.batchSize());
      failedAttempts = 0;
    } catch (JedisConnectionException e) {
      throw retriable(e);
    }
    account(records, writeSources, bad, reasons, results);
    checkCache();
  }

  private RuntimeException retriable(JedisConnectionException e) {
    failedAttempts++;
    if (failedAttempts > config.maxRetries()) {
      throw new ConnectException("Redis at " + writer.address() + " unreachable for " + failedAttempts
          + " consecutive attempts (redis.max.retries=" + config.maxRetries() + "): " + e.getMessage(), e);
    }
    long backoff = backoffMs(failedAttempts, config.retryBackoffMs());
    log.warn("Redis at {} unreachable (attempt {}/{}), retrying the batch in {} ms: {}", writer.address(),
        failedAttempts, config.maxRetries(), backoff, e.getMessage());
    if (replay != null) {
      replay.checkSoon(); // Redis may have restarted empty: read the markers after the first write that works
    }
    context.timeout(backoff);
    return new RetriableException("Redis at " + writer.address() + " unreachable: " + e.getMessage(), e);
  }

  /**
   * The wait before attempt {@code attempt + 1}: 100 ms doubling up to {@code maxMs}. A restart or a
   * failover is over within a second or two, so the first retries come soon; a longer outage is retried
   * every {@code maxMs}, and {@code redis.max.retries} still bounds it at about retries × maxMs.
   */
  static long backoffMs(int attempt, long maxMs) {
    return Math.min(maxMs, 100L << Math.min(Math.max(attempt - 1, 0), 20));
  }

  /** Read the cache markers now and then; rewind the partitions whose marker Redis lost. */
  private void checkCache() {
    if (replay == null) {
      return;
    }
    Map<TopicPartition, Long> rewind;
    try {
      rewind = replay.check(writer, context.assignment());
    } catch (JedisConnectionException e) {
      log.debug("Cache markers not read: {}", e.getMessage());
      return; // the next write finds the connection trouble and retries
    } catch (JedisDataException e) {
      if (RedisWriter.isTransient(e)) {
        writer.reset();
        return;
      }
      throw new ConnectException("cannot read or write the cache markers in " + config.replayMarkerKey() + " at "
          + writer.address() + " (the Redis user needs that key): " + e.getMessage(), e);
    }
    if (!rewind.isEmpty()) {
      context.offset(rewind);
    }
  }

  private void account(Collection<SinkRecord> records, List<SinkRecord> sources, List<SinkRecord> bad,
                       List<Exception> reasons, List<RedisWriter.Result> results) {
    for (int i = 0; i < results.size(); i++) {
      RedisWriter.Result r = results.get(i);
      switch (r.outcome()) {
        case APPLIED -> applied++;
        case STALE -> stale++;
        case DELETED -> deleted++;
        case FAILED -> {
          bad.add(sources.get(i));
          reasons.add(new DataException("redis rejected the update: " + r.error()));
        }
      }
    }
    // Reported only after the Redis write succeeded, so a retried batch is not reported twice.
    for (int i = 0; i < bad.size(); i++) {
      invalid++;
      if (reporter == null) {
        throw new DataException("malformed record at " + bad.get(i).topic() + "-" + bad.get(i).kafkaPartition()
            + "@" + bad.get(i).kafkaOffset() + " and no dead letter queue configured: " + reasons.get(i).getMessage(),
            reasons.get(i));
      }
      reporter.report(bad.get(i), reasons.get(i));
    }
    if (replay != null) {
      for (SinkRecord r : records) {
        replay.written(new TopicPartition(r.topic(), r.kafkaPartition()), r.kafkaOffset());
      }
    }
  }

  @Override
  public void stop() {
    log.info("rastro Redis sink task stopping: applied={} stale={} deleted={} invalid={} superseded in their batch={}",
        applied, stale, deleted, invalid, coalesced);
    if (writer != null) {
      writer.close();
    }
    if (endOffsets != null) {
      endOffsets.close();
    }
  }
}
