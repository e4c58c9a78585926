package io.rastro.connect.redis;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.connect.sink.SinkRecord;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import redis.clients.jedis.Jedis;

/** The sink with two Redis primaries (redis.hosts): sharding is configuration, not code. */
class ShardedSinkTest {
  private static RedisServer a;
  private static RedisServer b;

  @BeforeAll
  static void start() throws Exception {
    a = new RedisServer();
    b = new RedisServer();
  }

  @AfterAll
  static void stop() throws Exception {
    a.close();
    b.close();
  }

  @BeforeEach
  void flush() {
    for (RedisServer s : List.of(a, b)) {
      try (Jedis j = new Jedis("127.0.0.1", s.port)) {
        j.flushAll();
      }
    }
  }

  static Map<String, String> props() {
    Map<String, String> p = RedisSinkTaskTest.props(a.port);
    p.remove("redis.host");
    p.put("redis.hosts", "127.0.0.1:" + a.port + ",127.0.0.1:" + b.port);
    return p;
  }

  @Test
  void shardsComeFromTheMasterNamesOrTheHostsNeverBoth() {
    Map<String, String> p = props();
    p.put("redis.sentinels", "127.0.0.1:26379");
    var e = org.junit.jupiter.api.Assertions.assertThrows(org.apache.kafka.common.config.ConfigException.class,
        () -> new RedisSinkConfig(p));
    assertTrue(e.getMessage().contains("redis.hosts") && e.getMessage().contains("must be empty when redis.sentinels is set"),
        e.getMessage());
    p.remove("redis.hosts");
    p.put("redis.sentinel.master", "city-a, city-b");
    assertEquals(List.of("city-a", "city-b"), new RedisSinkConfig(p).sentinelMasters());
    p.put("redis.hosts", "127.0.0.1:notaport");
    p.remove("redis.sentinels");
    e = org.junit.jupiter.api.Assertions.assertThrows(org.apache.kafka.common.config.ConfigException.class,
        () -> new RedisSinkConfig(p));
    assertTrue(e.getMessage().contains("redis.hosts") && e.getMessage().contains("has no numeric port"), e.getMessage());
  }

  @Test
  void theShardIsCrc32OfTheDriverIdModN() {
    // The values Python's zlib.crc32 gives (docs/contracts.md): the API and tools shard the same way.
    assertEquals(522494430L % 2, ShardedWriter.shardOf("driver-0001", 2));
    assertEquals(3277985945L % 3, ShardedWriter.shardOf("d42", 3));
    assertEquals(1372614569L % 2, ShardedWriter.shardOf("ÁÉ-1", 2));
  }

  @Test
  void eachDriverLivesOnItsShardOnlyAndTombstonesAndTheGuardFollowIt() {
    RedisSinkTask task = new RedisSinkTask();
    task.initialize(new RedisSinkTaskTest.Context());
    task.start(props());
    try (Jedis ja = new Jedis("127.0.0.1", a.port); Jedis jb = new Jedis("127.0.0.1", b.port)) {
      List<SinkRecord> batch = new ArrayList<>();
      for (int i = 0; i < 200; i++) {
        batch.add(RedisSinkTaskTest.rec(i, "d" + i, RedisSinkTaskTest.json("d" + i, -23.5, "2026-11-22T10:00:01.000Z")));
      }
      // An older update after the newer one, and a tombstone: each decided on the driver's own shard.
      batch.add(RedisSinkTaskTest.rec(200, "d1", RedisSinkTaskTest.json("d1", -23.9, "2026-11-22T10:00:00.000Z")));
      batch.add(RedisSinkTaskTest.rec(201, "d2", null));
      task.put(batch);
      int onA = 0;
      for (int i = 0; i < 200; i++) {
        Jedis home = ShardedWriter.shardOf("d" + i, 2) == 0 ? ja : jb;
        Jedis other = home == ja ? jb : ja;
        assertFalse(other.exists("driver:d" + i), "d" + i + " on the wrong shard");
        assertFalse(other.zscore("drivers:geo:busy", "d" + i) != null, "d" + i + " in the wrong shard's geo set");
        if (i == 2) {
          assertFalse(home.exists("driver:d2"), "the tombstone removed d2");
          continue;
        }
        assertEquals("-23.5", home.hget("driver:d" + i, "latitude"), "d" + i);
        onA += home == ja ? 1 : 0;
      }
      assertTrue(onA > 60 && onA < 140, "both shards take a share: " + onA + " of 199 on the first");
      assertEquals(199, ja.zcard("drivers:geo:busy") + jb.zcard("drivers:geo:busy"));
      // 199 written (d2's update and d1's older one never reach Redis: the batch is coalesced), one tombstone.
      assertEquals(199L, Long.parseLong(ja.hget("drivers:stats", "applied")) + Long.parseLong(jb.hget("drivers:stats", "applied")));
      String home2 = ShardedWriter.shardOf("d2", 2) == 0 ? ja.hget("drivers:stats", "deleted") : jb.hget("drivers:stats", "deleted");
      assertEquals("1", home2);
    } finally {
      task.stop();
    }
  }

  @Test
  void oneShardLosingItsDataReplaysThePartitions() {
    RedisSinkTask task = new RedisSinkTask();
    RedisSinkTaskTest.Context ctx = new RedisSinkTaskTest.Context();
    TopicPartition p0 = new TopicPartition("driver-locations", 0);
    ctx.assignment = Set.of(p0);
    task.initialize(ctx);
    Map<String, String> p = props();
    p.put("cache.replay.check.interval.ms", "0");
    task.start(p);
    task.endOffsets(tps -> Map.of(p0, 1L));
    try (Jedis ja = new Jedis("127.0.0.1", a.port); Jedis jb = new Jedis("127.0.0.1", b.port)) {
      task.open(List.of(p0));
      task.put(List.of(RedisSinkTaskTest.rec(0, "d1", RedisSinkTaskTest.json("d1", -23.5, "2026-11-22T10:00:01.000Z"))));
      ctx.rewound.clear();
      task.put(List.of(RedisSinkTaskTest.rec(0, "d1", RedisSinkTaskTest.json("d1", -23.5, "2026-11-22T10:00:01.000Z"))));
      assertTrue(ja.hget("drivers:replay", "driver-locations:0").startsWith("live"));
      assertTrue(jb.hget("drivers:replay", "driver-locations:0").startsWith("live"));
      assertEquals(Map.of(), ctx.rewound);
      jb.flushAll(); // the second shard restarts empty
      task.put(List.of());
      assertEquals(Map.of(p0, 0L), ctx.rewound, "a marker missing on one shard replays the partition");
    } finally {
      task.stop();
    }
  }
}
