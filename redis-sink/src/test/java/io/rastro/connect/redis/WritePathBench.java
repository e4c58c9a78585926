package io.rastro.connect.redis;

import java.nio.charset.StandardCharsets;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Random;
import java.util.UUID;
import redis.clients.jedis.DefaultJedisClientConfig;
import redis.clients.jedis.HostAndPort;
import redis.clients.jedis.Jedis;
import redis.clients.jedis.Pipeline;
import redis.clients.jedis.params.ScanParams;
import redis.clients.jedis.resps.ScanResult;

/**
 * The write path into Redis without Kafka or Connect, on one server, side by side: the physical
 * ceiling (a plain pipelined HSET of the contract's fields + GEOADD, no guard), the sink's old path (one
 * EVALSHA of upsert.lua per update) and the sink's writer ({@link RedisWriter}, apply.lua) at several
 * records per script call. Used by bench/scale_bench.py; one JSON line per variant on stdout.
 *
 * <p>Arguments: host port user tls-ca-file(or -) drivers updates pipeline wait-replicas variant...
 * where a variant is {@code raw}, {@code per-update} or {@code writer-N} (N records per call). The
 * password comes from the environment ({@code RASTRO_REDIS_PASSWORD}), never the command line. Keys
 * live under a random {@code bench:} prefix, removed afterwards.
 */
public final class WritePathBench {
  private static final java.time.format.DateTimeFormatter STAMP =
      java.time.format.DateTimeFormatter.ofPattern("yyyy-MM-dd'T'HH:mm:ss.SSS'Z'").withZone(java.time.ZoneOffset.UTC);

  private WritePathBench() {}

  public static void main(String[] a) throws Exception {
    String host = a[0];
    int port = Integer.parseInt(a[1]);
    String user = a[2];
    String ca = a[3];
    int drivers = Integer.parseInt(a[4]);
    int updates = Integer.parseInt(a[5]);
    int pipeline = Integer.parseInt(a[6]);
    int waitReplicas = Integer.parseInt(a[7]);
    String password = System.getenv().getOrDefault("RASTRO_REDIS_PASSWORD", "");
    javax.net.ssl.SSLSocketFactory tls = "-".equals(ca) ? null : RedisTls.socketFactory(ca);
    DefaultJedisClientConfig.Builder b = DefaultJedisClientConfig.builder().socketTimeoutMillis(10_000).clientName("rastro-bench");
    if (!user.isEmpty()) {
      b.user(user);
    }
    if (!password.isEmpty()) {
      b.password(password);
    }
    if (tls != null) {
      b.ssl(true).sslSocketFactory(tls).sslParameters(RedisTls.verifyHostName());
    }
    DefaultJedisClientConfig config = b.build();
    List<DriverUpdate> load = updates(drivers, updates);
    for (int v = 8; v < a.length; v++) {
      String variant = a[v];
      String prefix = "bench:" + UUID.randomUUID().toString().substring(0, 8) + ":";
      String geo = prefix + "geo";
      double cpuBefore = serverCpu(host, port, config);
      long start = System.nanoTime();
      if ("raw".equals(variant)) {
        raw(new Jedis(new HostAndPort(host, port), config), load, prefix, geo, pipeline, waitReplicas);
      } else if ("per-update".equals(variant)) {
        perUpdate(new Jedis(new HostAndPort(host, port), config), load, prefix, geo, pipeline, waitReplicas);
      } else if (variant.startsWith("writer-")) {
        try (RedisWriter w = new RedisWriter(List.of(), "", new HostAndPort(host, port), user, password, 10_000,
            prefix + "driver:", geo, tls).waitFor(waitReplicas, 10_000)
            .recordsPerCall(Integer.parseInt(variant.substring("writer-".length())))) {
          for (int from = 0; from < load.size(); from += pipeline) {
            w.apply(load.subList(from, Math.min(load.size(), from + pipeline)), pipeline);
          }
        }
      } else {
        throw new IllegalArgumentException("variant: unknown '" + variant + "' (raw, per-update, writer-N)");
      }
      double seconds = (System.nanoTime() - start) / 1e9;
      double cpu = serverCpu(host, port, config) - cpuBefore;
      long keys;
      try (Jedis j = new Jedis(new HostAndPort(host, port), config)) {
        // per-update (the path before 0.5.0) keeps one geo set; the others one per status.
        keys = j.zcard(geo);
        for (String k : RedisWriter.geoKeys(geo)) {
          keys += j.zcard(k);
        }
        cleanUp(j, prefix);
      }
      System.out.printf(Locale.ROOT, "{\"variant\": \"%s\", \"updates\": %d, \"drivers\": %d, \"pipeline\": %d, "
          + "\"wait_replicas\": %d, \"seconds\": %.3f, \"updates_per_s\": %.0f, \"redis_cpu_us_per_update\": %.2f, "
          + "\"drivers_in_geo\": %d}%n",
          variant, load.size(), drivers, pipeline, waitReplicas, seconds, load.size() / seconds,
          cpu * 1e6 / load.size(), keys);
    }
  }

  /**
   * Rounds over the drivers, positions in a 30 km box, timestamps rising: as the producer sends them.
   * A driver keeps its status for about 50 updates (as the simulator's shifts do), then takes another.
   */
  static List<DriverUpdate> updates(int drivers, int updates) {
    Random rnd = new Random(14);
    long t0 = Instant.parse("2026-12-06T10:00:00Z").toEpochMilli();
    List<DriverUpdate> out = new ArrayList<>(updates);
    String[] statuses = {"available", "busy", "offline"};
    int[] status = new int[drivers];
    for (int d = 0; d < drivers; d++) {
      status[d] = rnd.nextInt(3);
    }
    for (int i = 0; i < updates; i++) {
      int d = i % drivers;
      String id = String.format(Locale.ROOT, "d%06d", d);
      if (rnd.nextInt(50) == 0) {
        status[d] = rnd.nextInt(3);
      }
      out.add(new DriverUpdate(id, String.format(Locale.ROOT, "%.6f", 40.28 + rnd.nextDouble() * 0.27),
          String.format(Locale.ROOT, "%.6f", -3.86 + rnd.nextDouble() * 0.35),
          STAMP.format(Instant.ofEpochMilli(t0 + i / 25)),
          statuses[status[d]], false));
    }
    return out;
  }

  private static void raw(Jedis j, List<DriverUpdate> load, String prefix, String geo, int pipeline, int wait) {
    // The raw writer knows each driver's last status (the sink reads it in its script): it leaves the
    // old status's geo set only when the status changed.
    java.util.Map<String, String> last = new java.util.HashMap<>();
    try (j) {
      for (int from = 0; from < load.size(); from += pipeline) {
        Pipeline p = j.pipelined();
        for (DriverUpdate u : load.subList(from, Math.min(load.size(), from + pipeline))) {
          String was = last.put(u.driverId(), u.status());
          if (was != null && !was.equals(u.status())) {
            p.zrem(geo + ":" + was, u.driverId());
          }
          p.hset(prefix + "driver:" + u.driverId(), java.util.Map.of("driver_id", u.driverId(), "latitude", u.latitude(),
              "longitude", u.longitude(), "timestamp", u.timestamp(), "status", u.status()));
          // As the sink's layout: the geo set of the update's status (a status change's ZREM aside).
          p.geoadd(geo + ":" + u.status(), Double.parseDouble(u.longitude()), Double.parseDouble(u.latitude()), u.driverId());
        }
        p.sync();
        if (wait > 0) {
          j.waitReplicas(wait, 10_000);
        }
      }
    }
  }

  private static void perUpdate(Jedis j, List<DriverUpdate> load, String prefix, String geo, int pipeline, int wait)
      throws Exception {
    String script;
    try (var in = WritePathBench.class.getResourceAsStream("upsert.lua")) {
      script = new String(in.readAllBytes(), StandardCharsets.UTF_8);
    }
    try (j) {
      String sha = j.scriptLoad(script);
      for (int from = 0; from < load.size(); from += pipeline) {
        Pipeline p = j.pipelined();
        for (DriverUpdate u : load.subList(from, Math.min(load.size(), from + pipeline))) {
          p.evalsha(sha, List.of(prefix + "driver:" + u.driverId(), geo),
              List.of(u.driverId(), u.latitude(), u.longitude(), u.timestamp(), u.status()));
        }
        p.sync();
        if (wait > 0) {
          j.waitReplicas(wait, 10_000);
        }
      }
    }
  }

  /** Seconds of CPU the server has used (INFO cpu: user + system, all its threads). */
  private static double serverCpu(String host, int port, DefaultJedisClientConfig config) {
    try (Jedis j = new Jedis(new HostAndPort(host, port), config)) {
      double total = 0;
      for (String line : j.info("cpu").split("\r?\n")) {
        if (line.startsWith("used_cpu_sys:") || line.startsWith("used_cpu_user:")) {
          total += Double.parseDouble(line.substring(line.indexOf(':') + 1).trim());
        }
      }
      return total;
    }
  }

  private static void cleanUp(Jedis j, String prefix) {
    String cursor = ScanParams.SCAN_POINTER_START;
    ScanParams match = new ScanParams().match(prefix + "*").count(5000);
    do {
      ScanResult<String> page = j.scan(cursor, match);
      if (!page.getResult().isEmpty()) {
        j.unlink(page.getResult().toArray(String[]::new));
      }
      cursor = page.getCursor();
    } while (!"0".equals(cursor));
  }
}
