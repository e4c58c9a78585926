package io.rastro.connect.redis;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.TreeMap;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import redis.clients.jedis.Jedis;

/** Writing only the coalesced updates leaves Redis exactly as writing every update in order does. */
class CoalescerTest {
  private static RedisServer redis;

  @BeforeAll
  static void startRedis() throws Exception {
    redis = new RedisServer();
  }

  @AfterAll
  static void stopRedis() throws Exception {
    redis.close();
  }

  static DriverUpdate u(String id, int second) {
    return new DriverUpdate(id, "-23." + second, "-46.6", String.format("2026-11-22T10:00:%02d.000Z", second), "busy", false);
  }

  @Test
  void keepsTheLastTombstoneAndTheNewestUpdateAfterIt() {
    List<DriverUpdate> batch = List.of(u("a", 1), u("b", 5), u("a", 3), u("a", 2), DriverUpdate.tombstone("b"),
        u("b", 4), u("c", 7), DriverUpdate.tombstone("c"));
    assertEquals(List.of(2, 4, 5, 7), Coalescer.writes(batch));
  }

  /**
   * Against one update per script call and per round trip, in order: the coalesced writes and the whole
   * batch, each at several records per script call and per pipeline.
   */
  @Test
  void randomBatchesEndInTheSameStateAsEveryUpdateInOrder() {
    Random rnd = new Random(42);
    try (RedisWriter one = new RedisWriter("127.0.0.1", redis.port, "", "", 2000, "driver:", "drivers:geo").recordsPerCall(1);
         RedisWriter w = new RedisWriter("127.0.0.1", redis.port, "", "", 2000, "driver:", "drivers:geo");
         Jedis j = new Jedis("127.0.0.1", redis.port)) {
      for (int round = 0; round < 50; round++) {
        List<DriverUpdate> seed = new ArrayList<>();
        List<DriverUpdate> batch = new ArrayList<>();
        for (int i = 0; i < 5; i++) {
          seed.add(u("d" + i, rnd.nextInt(60)));
        }
        for (int i = 0; i < 40; i++) {
          String id = "d" + rnd.nextInt(5);
          batch.add(rnd.nextInt(6) == 0 ? DriverUpdate.tombstone(id) : u(id, rnd.nextInt(60)));
        }
        j.flushAll();
        one.apply(seed, 1);
        one.apply(batch, 1);
        Map<String, Map<String, String>> sequential = state(j);
        List<DriverUpdate> coalesced = Coalescer.writes(batch).stream().map(batch::get).toList();
        for (int perCall : new int[] {1, 3, 100}) {
          for (List<DriverUpdate> writes : List.of(coalesced, batch)) {
            j.flushAll();
            w.recordsPerCall(perCall).apply(seed, 100);
            w.apply(writes, 7);
            assertEquals(sequential, state(j), "round " + round + ", " + perCall + " per call, "
                + (writes == batch ? "whole batch" : "coalesced") + ": " + batch);
          }
        }
      }
    }
  }

  private static Map<String, Map<String, String>> state(Jedis j) {
    Map<String, Map<String, String>> out = new TreeMap<>();
    for (String k : j.keys("driver:*")) {
      out.put(k, new TreeMap<>(j.hgetAll(k)));
    }
    for (String k : RedisWriter.geoKeys("drivers:geo")) {
      out.put(k, new TreeMap<>(Map.of("members", String.join(",", j.zrange(k, 0, -1)))));
    }
    return out;
  }
}
