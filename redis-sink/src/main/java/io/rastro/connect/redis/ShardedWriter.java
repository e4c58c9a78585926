package io.rastro.connect.redis;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.zip.CRC32;

/**
 * Driver state spread over several Redis primaries (shards): a driver lives on shard
 * {@code CRC32(driver_id) mod N} (docs/contracts.md), always the same one, so its stale-write guard,
 * tombstone and geo member stay on one server. One shard is the unsharded case. The cache markers
 * are kept on every shard and count as present only where every shard has them: a shard that lost
 * its data makes its partitions replay.
 */
final class ShardedWriter implements AutoCloseable {
  private final List<RedisWriter> shards;

  ShardedWriter(List<RedisWriter> shards) {
    if (shards.isEmpty()) {
      throw new IllegalArgumentException("at least one Redis shard is needed");
    }
    this.shards = List.copyOf(shards);
  }

  /** The shard of a driver among {@code n}: CRC32 of its id's UTF-8 bytes, mod n (Python: zlib.crc32). */
  static int shardOf(String driverId, int n) {
    CRC32 crc = new CRC32();
    crc.update(driverId.getBytes(StandardCharsets.UTF_8));
    return (int) (crc.getValue() % n);
  }

  int size() {
    return shards.size();
  }

  /** Each shard's updates in their order, each shard's results put back in the updates' order. */
  List<RedisWriter.Result> apply(List<DriverUpdate> updates, int batchSize) {
    if (shards.size() == 1) {
      return shards.get(0).apply(updates, batchSize);
    }
    List<List<Integer>> positions = new ArrayList<>();
    List<List<DriverUpdate>> perShard = new ArrayList<>();
    for (int s = 0; s < shards.size(); s++) {
      positions.add(new ArrayList<>());
      perShard.add(new ArrayList<>());
    }
    for (int i = 0; i < updates.size(); i++) {
      int s = shardOf(updates.get(i).driverId(), shards.size());
      positions.get(s).add(i);
      perShard.get(s).add(updates.get(i));
    }
    RedisWriter.Result[] results = new RedisWriter.Result[updates.size()];
    for (int s = 0; s < shards.size(); s++) {
      if (perShard.get(s).isEmpty()) {
        continue;
      }
      List<RedisWriter.Result> r = shards.get(s).apply(perShard.get(s), batchSize);
      for (int k = 0; k < r.size(); k++) {
        results[positions.get(s).get(k)] = r.get(k);
      }
    }
    return Arrays.asList(results);
  }

  /** A field's value where every shard has it, null where any shard lacks it. */
  List<String> readHash(String key, List<String> fields) {
    List<String> out = new ArrayList<>(shards.get(0).readHash(key, fields));
    for (RedisWriter shard : shards.subList(1, shards.size())) {
      List<String> other = shard.readHash(key, fields);
      for (int i = 0; i < out.size(); i++) {
        if (other.get(i) == null) {
          out.set(i, null);
        }
      }
    }
    return out;
  }

  void writeHash(String key, Map<String, String> values) {
    shards.forEach(s -> s.writeHash(key, values));
  }

  String address() {
    if (shards.size() == 1) {
      return shards.get(0).address();
    }
    return shards.stream().map(RedisWriter::address).toList().toString();
  }

  void reset() {
    shards.forEach(RedisWriter::reset);
  }

  @Override
  public void close() {
    shards.forEach(RedisWriter::close);
  }
}
