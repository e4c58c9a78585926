package io.rastro.connect.redis;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Future;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.config.ConfigValue;
import org.apache.kafka.connect.errors.ConnectException;
import org.apache.kafka.connect.errors.RetriableException;
import org.apache.kafka.connect.sink.ErrantRecordReporter;
import org.apache.kafka.connect.sink.SinkRecord;
import org.apache.kafka.connect.sink.SinkTaskContext;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import redis.clients.jedis.Jedis;

/** The task against a real Redis; only Connect's framework context is stood in for. */
class RedisSinkTaskTest {
  private static RedisServer redis;

  @BeforeAll
  static void startRedis() throws Exception {
    redis = new RedisServer();
  }

  @AfterAll
  static void stopRedis() throws Exception {
    redis.close();
  }

  /** Records what the framework would: reported records and the requested retry timeout. */
  static final class Context implements SinkTaskContext {
    final List<SinkRecord> reported = new ArrayList<>();
    final List<Throwable> reasons = new ArrayList<>();
    final Map<TopicPartition, Long> rewound = new HashMap<>();
    Set<TopicPartition> assignment = Set.of();
    long timeout = -1;

    @Override public Map<String, String> configs() { return Map.of(); }
    @Override public void offset(Map<TopicPartition, Long> offsets) { rewound.putAll(offsets); }
    @Override public void offset(TopicPartition tp, long offset) { rewound.put(tp, offset); }
    @Override public void timeout(long timeoutMs) { timeout = timeoutMs; }
    @Override public Set<TopicPartition> assignment() { return assignment; }
    @Override public void pause(TopicPartition... partitions) {}
    @Override public void resume(TopicPartition... partitions) {}
    @Override public void requestCommit() {}
    @Override public org.apache.kafka.common.metrics.PluginMetrics pluginMetrics() { return null; }
    @Override public ErrantRecordReporter errantRecordReporter() {
      return new ErrantRecordReporter() {
        @Override
        public Future<Void> report(SinkRecord record, Throwable error) {
          reported.add(record);
          reasons.add(error);
          return CompletableFuture.completedFuture(null);
        }
      };
    }
  }

  static Map<String, String> props(int port) {
    Map<String, String> p = new HashMap<>();
    p.put("redis.host", "127.0.0.1");
    p.put("redis.port", String.valueOf(port));
    p.put("redis.batch.size", "3");
    p.put("redis.max.retries", "2");
    p.put("redis.retry.backoff.ms", "50");
    p.put("redis.timeout.ms", "300");
    return p;
  }

  static SinkRecord rec(long offset, String key, String value) {
    return new SinkRecord("driver-locations", 0, null, key, null,
        value == null ? null : value.getBytes(StandardCharsets.UTF_8), offset);
  }

  static String json(String id, double lat, String ts) {
    return "{\"driver_id\":\"" + id + "\",\"latitude\":" + lat + ",\"longitude\":-46.6,\"timestamp\":\"" + ts
        + "\",\"status\":\"busy\"}";
  }

  @Test
  void malformedRecordsGoToTheReporterAndTheBatchGoesOn() {
    RedisSinkTask task = new RedisSinkTask();
    Context ctx = new Context();
    task.initialize(ctx);
    task.start(props(redis.port));
    try (Jedis j = new Jedis("127.0.0.1", redis.port)) {
      j.flushAll();
      task.put(List.of(
          rec(0, "a", json("a", -23.1, "2026-11-22T10:00:00.000Z")),
          rec(1, "b", "{broken"),
          rec(2, "b", json("b", -23.2, "2026-11-22T10:00:00.000Z")),
          rec(3, "c", json("not-c", -23.3, "2026-11-22T10:00:00.000Z")),
          rec(4, "d", json("d", 123.0, "2026-11-22T10:00:00.000Z")),
          rec(5, "a", json("a", -23.4, "2026-11-22T10:00:01.000Z")),
          rec(6, "b", null)));
      assertEquals(List.of(1L, 3L, 4L), ctx.reported.stream().map(SinkRecord::kafkaOffset).toList());
      assertTrue(ctx.reasons.get(0).getMessage().startsWith("value: is not JSON"));
      assertTrue(ctx.reasons.get(1).getMessage().startsWith("driver_id: must equal the record key 'c'"));
      assertTrue(ctx.reasons.get(2).getMessage().startsWith("latitude: must be between -90 and 90"));
      assertEquals("-23.4", j.hget("driver:a", "latitude"));
      assertEquals(0, j.exists("driver:b") ? 1 : 0);
      assertEquals(1, j.zcard("drivers:geo:busy"));
    } finally {
      task.stop();
    }
  }

  @Test
  void unreachableRedisIsRetriableThenFatal() throws Exception {
    RedisSinkTask task = new RedisSinkTask();
    Context ctx = new Context();
    task.initialize(ctx);
    task.start(props(RedisServer.freePort()));
    List<SinkRecord> batch = List.of(rec(0, "a", json("a", 1, "2026-11-22T10:00:00.000Z")), rec(1, "x", "{bad"));
    assertThrows(RetriableException.class, () -> task.put(batch));
    assertEquals(50, ctx.timeout);
    assertThrows(RetriableException.class, () -> task.put(batch));
    ConnectException fatal = assertThrows(ConnectException.class, () -> task.put(batch));
    assertTrue(fatal.getMessage().contains("unreachable for 3 consecutive attempts (redis.max.retries=2)"), fatal.getMessage());
    assertEquals(0, ctx.reported.size(), "a batch that never reached Redis reports nothing yet");
    task.stop();
  }

  @Test
  void badConfigurationIsReportedPerKey() {
    Map<String, String> p = props(6379);
    p.put("redis.port", "70000");
    p.put("redis.batch.size", "0");
    p.put("redis.key.prefix", "");
    p.remove("redis.host");
    Map<String, List<String>> errors = new HashMap<>();
    for (ConfigValue v : new RedisSinkConnector().validate(p).configValues()) {
      if (!v.errorMessages().isEmpty()) {
        errors.put(v.name(), v.errorMessages());
      }
    }
    assertTrue(errors.get("redis.port").get(0).contains("70000"), errors.toString());
    assertTrue(errors.get("redis.batch.size").get(0).contains("0"), errors.toString());
    assertTrue(errors.get("redis.key.prefix").get(0).contains("must not be empty"), errors.toString());
    assertTrue(errors.containsKey("redis.host"), errors.toString());
  }

  /** A started task whose cache markers are read at every put, with {@code assigned} as its partitions. */
  static RedisSinkTask replayTask(Context ctx, TopicPartition... assigned) {
    RedisSinkTask task = new RedisSinkTask();
    ctx.assignment = Set.of(assigned);
    task.initialize(ctx);
    Map<String, String> p = props(redis.port);
    p.put("cache.replay.check.interval.ms", "0");
    task.start(p);
    return task;
  }

  @Test
  void aLostCacheMarkerReplaysThePartitionFromTheStart() {
    Context ctx = new Context();
    TopicPartition p0 = new TopicPartition("driver-locations", 0);
    RedisSinkTask task = replayTask(ctx, p0);
    task.endOffsets(tps -> Map.of(p0, 3L));
    try (Jedis j = new Jedis("127.0.0.1", redis.port)) {
      j.flushAll();
      task.open(List.of(p0));
      // No marker yet: the partition is replayed from offset 0 up to its end offset (3).
      task.put(List.of(rec(1, "a", json("a", -23.1, "2026-11-22T10:00:00.000Z")),
          rec(2, "b", json("b", -23.2, "2026-11-22T10:00:00.000Z"))));
      assertEquals(Map.of(p0, 0L), ctx.rewound);
      assertTrue(j.hget("drivers:replay", "driver-locations:0").startsWith("replaying target=3 done=0"),
          j.hget("drivers:replay", "driver-locations:0"));
      ctx.rewound.clear();
      task.put(List.of(rec(0, "c", json("c", -23.25, "2026-11-22T09:00:00.000Z")),
          rec(1, "a", json("a", -23.1, "2026-11-22T10:00:00.000Z"))));
      assertTrue(j.hget("drivers:replay", "driver-locations:0").startsWith("replaying target=3 done=2"));
      task.put(List.of(rec(2, "b", json("b", -23.2, "2026-11-22T10:00:00.000Z"))));
      assertTrue(j.hget("drivers:replay", "driver-locations:0").startsWith("live replayed="),
          j.hget("drivers:replay", "driver-locations:0"));
      assertEquals(Map.of(), ctx.rewound);

      // Redis loses everything: the next check finds no marker and replays again; a driver who
      // stopped sending (c) is back once the replay has passed its update.
      j.flushAll();
      task.put(List.of());
      assertEquals(Map.of(p0, 0L), ctx.rewound);
      task.put(List.of(rec(0, "c", json("c", -23.25, "2026-11-22T09:00:00.000Z"))));
      assertEquals("-23.25", j.hget("driver:c", "latitude"));
      assertTrue(j.hget("drivers:replay", "driver-locations:0").startsWith("replaying target=3 done=1"));
    } finally {
      task.stop();
    }
  }

  @Test
  void aReplayBegunElsewhereGoesOnFromItsProgressNotFromTheCommittedOffset() {
    // The task that began the replay asked for a rewind to 0, but Connect committed the batch's offsets
    // before the seek, then the worker died: the next owner is handed offsets past everything the replay
    // has not written yet. It must go on from the marker's progress (done=4), not from there.
    Context ctx = new Context();
    TopicPartition p0 = new TopicPartition("driver-locations", 0);
    TopicPartition p1 = new TopicPartition("driver-locations", 1);
    RedisSinkTask task = replayTask(ctx, p0, p1);
    task.endOffsets(tps -> Map.of());
    try (Jedis j = new Jedis("127.0.0.1", redis.port)) {
      j.flushAll();
      j.hset("drivers:replay", Map.of("driver-locations:0", "replaying target=10 done=4 since=1",
          "driver-locations:1", "replaying target=7 done=7 since=1"));
      task.open(List.of(p0, p1));
      task.put(List.of(rec(50, "a", json("a", -23.1, "2026-11-22T10:00:00.000Z"))));
      assertEquals(Map.of(p0, 4L), ctx.rewound);
      assertTrue(j.hget("drivers:replay", "driver-locations:0").startsWith("replaying target=10 done=4"),
          j.hget("drivers:replay", "driver-locations:0"));
      assertTrue(j.hget("drivers:replay", "driver-locations:1").startsWith("live replayed="),
          "a replay that had written up to its target is over: " + j.hget("drivers:replay", "driver-locations:1"));
      // Offset 50, written before the seek, does not count as progress: only what is replayed from 4 does.
      ctx.rewound.clear();
      task.put(List.of(rec(4, "b", json("b", -23.2, "2026-11-22T09:00:00.000Z"))));
      assertTrue(j.hget("drivers:replay", "driver-locations:0").startsWith("replaying target=10 done=5"),
          j.hget("drivers:replay", "driver-locations:0"));
      task.put(List.of(rec(9, "c", json("c", -23.3, "2026-11-22T09:00:00.000Z"))));
      assertTrue(j.hget("drivers:replay", "driver-locations:0").startsWith("live replayed="));
      assertEquals(Map.of(), ctx.rewound);
    } finally {
      task.stop();
    }
  }

  @Test
  void aReplayGoesPastWhatTheTaskHadTakenAndAsksTheBrokersOnlyWhereItTookNothing() {
    Context ctx = new Context();
    TopicPartition p0 = new TopicPartition("driver-locations", 0);
    TopicPartition p1 = new TopicPartition("driver-locations", 1);
    RedisSinkTask task = replayTask(ctx, p0, p1);
    List<Set<TopicPartition>> asked = new ArrayList<>();
    task.endOffsets(tps -> {
      asked.add(Set.copyOf(tps));
      return Map.of(p0, 90L, p1, 40L);
    });
    try (Jedis j = new Jedis("127.0.0.1", redis.port)) {
      j.flushAll();
      task.open(List.of(p0, p1));
      task.put(List.of(rec(11, "a", json("a", -23.1, "2026-11-22T10:00:00.000Z"))));
      assertEquals(List.of(Set.of(p1)), asked, "p0's progress (offset 11) is known: only p1's end offset is asked");
      assertTrue(j.hget("drivers:replay", "driver-locations:0").startsWith("replaying target=12 done=0"),
          j.hget("drivers:replay", "driver-locations:0"));
      assertTrue(j.hget("drivers:replay", "driver-locations:1").startsWith("replaying target=40 done=0"),
          j.hget("drivers:replay", "driver-locations:1"));
      assertEquals(Map.of(p0, 0L, p1, 0L), ctx.rewound);
    } finally {
      task.stop();
    }
  }

  @Test
  void theFirstRetriesComeSoonThenEveryBackoff() {
    assertEquals(List.of(100L, 200L, 400L, 800L, 1000L, 1000L),
        java.util.stream.IntStream.rangeClosed(1, 6).mapToObj(a -> RedisSinkTask.backoffMs(a, 1000)).toList());
    assertEquals(50L, RedisSinkTask.backoffMs(1, 50));
    assertEquals(1000L, RedisSinkTask.backoffMs(600, 1000));
  }

  @Test
  void aBatchNoReplicaAcknowledgedIsRetried() {
    RedisSinkTask task = new RedisSinkTask();
    Context ctx = new Context();
    task.initialize(ctx);
    Map<String, String> p = props(redis.port);
    p.put("redis.wait.replicas", "1");
    p.put("redis.wait.timeout.ms", "50");
    task.start(p);
    try {
      RetriableException e = assertThrows(RetriableException.class,
          () -> task.put(List.of(rec(0, "a", json("a", -23.1, "2026-11-22T10:00:00.000Z")))));
      assertTrue(e.getMessage().contains("only 0 of 1 replica(s)"), e.getMessage());
    } finally {
      task.stop();
    }
  }

  @Test
  void sentinelsLeadTheSinkToThePrimary() throws Exception {
    try (RedisServer primary = new RedisServer();
         RedisServer sentinel = RedisServer.sentinel("127.0.0.1", primary.port)) {
      RedisSinkTask task = new RedisSinkTask();
      task.initialize(new Context());
      Map<String, String> p = props(6379);
      p.remove("redis.host");
      p.put("redis.sentinels", "127.0.0.1:" + RedisServer.freePort() + ",127.0.0.1:" + sentinel.port);
      task.start(p);
      try (Jedis j = new Jedis("127.0.0.1", primary.port)) {
        task.put(List.of(rec(0, "s", json("s", -23.5, "2026-11-22T10:00:00.000Z"))));
        assertEquals("-23.5", j.hget("driver:s", "latitude"));
      } finally {
        task.stop();
      }
    }
  }

  @Test
  void noHostAndNoSentinelsIsRefusedByName() {
    Map<String, String> p = props(6379);
    p.remove("redis.host");
    p.put("redis.sentinels", "127.0.0.1");
    Map<String, List<String>> errors = new HashMap<>();
    for (ConfigValue v : new RedisSinkConnector().validate(p).configValues()) {
      if (!v.errorMessages().isEmpty()) {
        errors.put(v.name(), v.errorMessages());
      }
    }
    assertTrue(errors.get("redis.sentinels").get(0).contains("'127.0.0.1' is not host:port"), errors.toString());
  }
}
