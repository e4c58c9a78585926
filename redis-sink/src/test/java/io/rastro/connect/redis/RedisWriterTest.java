package io.rastro.connect.redis;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import redis.clients.jedis.Jedis;
import redis.clients.jedis.exceptions.JedisConnectionException;

class RedisWriterTest {
  private static RedisServer redis;
  private RedisWriter writer;
  private Jedis jedis;

  @BeforeAll
  static void startRedis() throws Exception {
    redis = new RedisServer();
  }

  @AfterAll
  static void stopRedis() throws Exception {
    redis.close();
  }

  @BeforeEach
  void connect() {
    writer = new RedisWriter("127.0.0.1", redis.port, "", "", 2000, "driver:", "drivers:geo");
    jedis = new Jedis("127.0.0.1", redis.port);
    jedis.flushAll();
  }

  @AfterEach
  void close() {
    writer.close();
    jedis.close();
  }

  static DriverUpdate u(String id, String lat, String lon, String ts, String status) {
    return new DriverUpdate(id, lat, lon, ts, status, false);
  }

  @Test
  void writesExactlyTheContractFieldsAndThePosition() {
    var r = writer.apply(List.of(u("d1", "-23.55", "-46.63", "2026-11-22T10:00:00.000Z", "busy")), 10);
    assertEquals(RedisWriter.Outcome.APPLIED, r.get(0).outcome());
    assertEquals(Map.of("driver_id", "d1", "latitude", "-23.55", "longitude", "-46.63",
        "timestamp", "2026-11-22T10:00:00.000Z", "status", "busy"), jedis.hgetAll("driver:d1"));
    var pos = jedis.geopos("drivers:geo:busy", "d1").get(0);
    assertEquals(-46.63, pos.getLongitude(), 1e-5);
    assertEquals(-23.55, pos.getLatitude(), 1e-5);
  }

  @Test
  void scriptsForgottenByRedisMakeTheBatchRetriableNotFailed() {
    writer.apply(List.of(u("d1", "1", "1", "2026-11-22T10:00:05.000Z", "busy")), 10);
    // What a Redis restart does to the script cache; the batch must be retried, not dead-lettered.
    jedis.scriptFlush();
    assertThrows(JedisConnectionException.class,
        () -> writer.apply(List.of(u("d1", "2", "2", "2026-11-22T10:00:06.000Z", "busy")), 10));
    var r = writer.apply(List.of(u("d1", "2", "2", "2026-11-22T10:00:06.000Z", "busy")), 10);
    assertEquals(RedisWriter.Outcome.APPLIED, r.get(0).outcome());
    assertEquals("2", jedis.hget("driver:d1", "latitude"));
  }

  @Test
  void serverStateErrorsAreTransientCommandErrorsAreNot() {
    // LOADING is what a restarted Redis answers while it reads its AOF back.
    for (String m : List.of("LOADING Redis is loading the dataset in memory", "BUSY Redis is busy running a script",
        "NOSCRIPT No matching script", "TRYAGAIN", "MASTERDOWN Link with MASTER is down", "READONLY You can't write")) {
      assertTrue(RedisWriter.isTransient(new redis.clients.jedis.exceptions.JedisDataException(m)), m);
    }
    for (String m : List.of("OOM command not allowed when used memory > 'maxmemory'", "NOPERM this user has no permissions",
        "WRONGTYPE Operation against a key holding the wrong kind of value")) {
      assertFalse(RedisWriter.isTransient(new redis.clients.jedis.exceptions.JedisDataException(m)), m);
    }
  }

  @Test
  void olderUpdateNeverOverwritesNewer() {
    writer.apply(List.of(u("d1", "1", "1", "2026-11-22T10:00:05.000Z", "busy")), 10);
    var r = writer.apply(List.of(u("d1", "2", "2", "2026-11-22T10:00:04.999Z", "available")), 10);
    assertEquals(RedisWriter.Outcome.STALE, r.get(0).outcome());
    assertEquals("1", jedis.hget("driver:d1", "latitude"));
    assertEquals("busy", jedis.hget("driver:d1", "status"));
    assertEquals(1.0, jedis.geopos("drivers:geo:busy", "d1").get(0).getLatitude(), 1e-5);
    assertEquals(0, jedis.zcard("drivers:geo:available"));
  }

  @Test
  void sameRecordTwiceChangesNothing() {
    DriverUpdate x = u("d1", "1.5", "2.5", "2026-11-22T10:00:05.000Z", "busy");
    writer.apply(List.of(x), 10);
    Map<String, String> before = jedis.hgetAll("driver:d1");
    writer.apply(List.of(x, x), 10);
    assertEquals(before, jedis.hgetAll("driver:d1"));
    assertEquals(1, jedis.zcard("drivers:geo:busy"));
  }

  @Test
  void fieldsOfOlderVersionsAreRemoved() {
    jedis.hset("driver:d1", Map.of("speed", "42", "timestamp", "2026-01-01T00:00:00.000Z"));
    writer.apply(List.of(u("d1", "1", "1", "2026-11-22T10:00:00.000Z", "offline")), 10);
    assertFalse(jedis.hexists("driver:d1", "speed"));
    assertEquals(5, jedis.hlen("driver:d1"));
  }

  @Test
  void fiveFieldsOfAnotherVersionAreReplacedByTheContractsFive() {
    jedis.hset("driver:d1", Map.of("driver_id", "d1", "latitude", "0", "longitude", "0",
        "timestamp", "2026-01-01T00:00:00.000Z", "speed", "42"));
    writer.apply(List.of(u("d1", "1", "1", "2026-11-22T10:00:00.000Z", "offline")), 10);
    assertEquals(Map.of("driver_id", "d1", "latitude", "1", "longitude", "1",
        "timestamp", "2026-11-22T10:00:00.000Z", "status", "offline"), jedis.hgetAll("driver:d1"));
  }

  @Test
  void aHashWithoutTimestampIsStartedOver() {
    jedis.hset("driver:d1", Map.of("speed", "42"));
    writer.apply(List.of(u("d1", "1", "1", "2026-11-22T10:00:00.000Z", "offline")), 10);
    assertEquals(5, jedis.hlen("driver:d1"));
    assertFalse(jedis.hexists("driver:d1", "speed"));
  }

  @Test
  void aKeyRedisRefusesFailsOnlyItsOwnRecordInAScriptCall() {
    jedis.set("driver:d2", "not a hash");
    var r = writer.recordsPerCall(10).apply(List.of(u("d1", "1", "1", "2026-11-22T10:00:00.000Z", "busy"),
        u("d2", "2", "2", "2026-11-22T10:00:00.000Z", "busy"), u("d3", "3", "3", "2026-11-22T10:00:00.000Z", "busy")), 10);
    assertEquals(List.of(RedisWriter.Outcome.APPLIED, RedisWriter.Outcome.FAILED, RedisWriter.Outcome.APPLIED),
        r.stream().map(RedisWriter.Result::outcome).toList());
    assertTrue(r.get(1).error().contains("WRONGTYPE"), r.get(1).error());
    assertEquals("3", jedis.hget("driver:d3", "latitude"));
    assertEquals("not a hash", jedis.get("driver:d2"));
  }

  @Test
  void statisticsKeepTheNewestTimestampWrittenAndCountWritesAndDeletions() {
    writer.apply(List.of(u("d1", "1", "1", "2026-11-22T10:00:05.000Z", "busy"),
        u("d2", "1", "1", "2026-11-22T10:00:07.000Z", "busy"), u("d3", "1", "1", "2026-11-22T10:00:06.000Z", "busy")), 10);
    writer.apply(List.of(u("d1", "1", "1", "2026-11-22T10:00:01.000Z", "busy"), DriverUpdate.tombstone("d3")), 10);
    assertEquals(Map.of("newest", "2026-11-22T10:00:07.000Z", "applied", "3", "deleted", "1"), jedis.hgetAll("drivers:stats"));
  }

  @Test
  void aBrokenStatisticsKeyCostsNoDriverItsUpdate() {
    jedis.set("drivers:stats", "not a hash");
    var r = writer.apply(List.of(u("d1", "1", "1", "2026-11-22T10:00:05.000Z", "busy")), 10);
    assertEquals(RedisWriter.Outcome.APPLIED, r.get(0).outcome());
    assertEquals("busy", jedis.hget("driver:d1", "status"));
  }

  @Test
  void recordsPerCallBelowOneIsRefusedWithTheValue() {
    var e = assertThrows(IllegalArgumentException.class, () -> writer.recordsPerCall(0));
    assertTrue(e.getMessage().contains("got 0"), e.getMessage());
  }

  @Test
  void tombstoneRemovesHashAndGeoMember() {
    writer.apply(List.of(u("d1", "1", "1", "2026-11-22T10:00:00.000Z", "busy"), DriverUpdate.tombstone("d1")), 10);
    assertFalse(jedis.exists("driver:d1"));
    for (String k : RedisWriter.geoKeys("drivers:geo")) {
      assertEquals(0, jedis.zcard(k), k);
    }
  }

  @Test
  void oneBatchWithManyVersionsOfADriverKeepsTheNewest() {
    List<DriverUpdate> batch = new ArrayList<>();
    for (int i = 0; i < 50; i++) {
      batch.add(u("d" + (i % 5), String.valueOf(i), "0", String.format("2026-11-22T10:00:%02d.000Z", i), "busy"));
    }
    batch.add(u("d0", "99", "0", "2026-11-22T09:00:00.000Z", "busy")); // late and old
    writer.apply(batch, 7);
    for (int d = 0; d < 5; d++) {
      assertEquals(String.valueOf(45 + d), jedis.hget("driver:d" + d, "latitude"));
    }
  }

  @Test
  void latitudeBeyondGeoLimitKeepsHashButLeavesTheGeoIndex() {
    writer.apply(List.of(u("pole", "10", "10", "2026-11-22T10:00:00.000Z", "busy")), 10);
    writer.apply(List.of(u("pole", "89.5", "10", "2026-11-22T10:00:01.000Z", "busy")), 10);
    assertEquals("89.5", jedis.hget("driver:pole", "latitude"));
    assertNull(jedis.geopos("drivers:geo:busy", "pole").get(0));
  }

  @Test
  void aStatusChangeMovesTheDriverToItsStatussGeoSetInTheSameCall() {
    writer.apply(List.of(u("d1", "1", "1", "2026-11-22T10:00:00.000Z", "available")), 10);
    assertNotNull(jedis.zscore("drivers:geo:available", "d1"));
    writer.apply(List.of(u("d1", "1.1", "1", "2026-11-22T10:00:01.000Z", "busy")), 10);
    assertNull(jedis.zscore("drivers:geo:available", "d1"));
    assertEquals(1.1, jedis.geopos("drivers:geo:busy", "d1").get(0).getLatitude(), 1e-5);
    writer.apply(List.of(u("d1", "1.2", "1", "2026-11-22T10:00:02.000Z", "offline")), 10);
    assertEquals(List.of(0L, 0L, 1L), RedisWriter.geoKeys("drivers:geo").stream().map(jedis::zcard).toList());
    // An older update with another status changes nothing, its geo set included.
    writer.apply(List.of(u("d1", "9", "9", "2026-11-22T10:00:01.500Z", "available")), 10);
    assertEquals(List.of(0L, 0L, 1L), RedisWriter.geoKeys("drivers:geo").stream().map(jedis::zcard).toList());
  }

  @Test
  void aDriverLeftInAnotherStatussSetWithoutItsHashIsMovedToo() {
    jedis.geoadd("drivers:geo:available", 1, 1, "d1");
    writer.apply(List.of(u("d1", "1", "1", "2026-11-22T10:00:00.000Z", "busy")), 10);
    assertNull(jedis.zscore("drivers:geo:available", "d1"));
    assertNotNull(jedis.zscore("drivers:geo:busy", "d1"));
  }

  @Test
  void theSingleGeoSetOfTheOldLayoutIsRemovedWithTheMarkersOnConnecting() {
    jedis.geoadd("drivers:geo", 1, 1, "old");
    jedis.hset("drivers:replay", "driver-locations:0", "live");
    try (RedisWriter w = new RedisWriter("127.0.0.1", redis.port, "", "", 2000, "driver:", "drivers:geo")
        .markerKey("drivers:replay")) {
      w.apply(List.of(u("d1", "1", "1", "2026-11-22T10:00:00.000Z", "busy")), 10);
    }
    assertFalse(jedis.exists("drivers:geo"));
    assertFalse(jedis.exists("drivers:replay"), "the markers must go, so that the partitions replay");
    assertNotNull(jedis.zscore("drivers:geo:busy", "d1"));
    // The new layout is left alone on the next connection.
    jedis.hset("drivers:replay", "driver-locations:0", "live");
    try (RedisWriter w = new RedisWriter("127.0.0.1", redis.port, "", "", 2000, "driver:", "drivers:geo")
        .markerKey("drivers:replay")) {
      w.ping();
    }
    assertEquals("live", jedis.hget("drivers:replay", "driver-locations:0"));
  }

  @Test
  void unreachableRedisIsAConnectionError() throws Exception {
    try (RedisWriter w = new RedisWriter("127.0.0.1", RedisServer.freePort(), "", "", 300, "driver:", "drivers:geo")) {
      assertThrows(JedisConnectionException.class,
          () -> w.apply(List.of(u("d1", "1", "1", "2026-11-22T10:00:00.000Z", "busy")), 10));
    }
  }

  @Test
  void aclUserAndPasswordAreUsed() throws Exception {
    try (RedisServer secured = new RedisServer("--user", "default", "off", "--user", "sink", "on", ">s3cret", "~*", "+@all");
         RedisWriter w = new RedisWriter("127.0.0.1", secured.port, "sink", "s3cret", 2000, "driver:", "drivers:geo");
         RedisWriter wrong = new RedisWriter("127.0.0.1", secured.port, "sink", "nope", 2000, "driver:", "drivers:geo")) {
      assertEquals(RedisWriter.Outcome.APPLIED,
          w.apply(List.of(u("d1", "1", "1", "2026-11-22T10:00:00.000Z", "busy")), 10).get(0).outcome());
      RuntimeException e = assertThrows(RuntimeException.class, wrong::ping);
      assertTrue(e.getMessage().contains("WRONGPASS") || e.getMessage().contains("invalid"), e.getMessage());
    }
  }
}
