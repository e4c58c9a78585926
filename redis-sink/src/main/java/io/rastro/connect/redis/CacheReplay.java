package io.rastro.connect.redis;

import java.time.Clock;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.apache.kafka.common.TopicPartition;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Redis is a cache of the compacted topic. A marker per partition in one Redis hash says the cache
 * holds that partition: {@code live} (with {@code replayed=<epoch ms>} after a replay), or a replay's
 * progress. A marker that is gone means Redis lost
 * its data (restarted empty, FLUSHALL, a replica promoted empty): the partition is replayed from its
 * first offset, so drivers who stopped sending come back; tombstones replay in order and still win.
 * Deleting the hash on purpose rebuilds the cache (playbooks/redis-rebuild.yml).
 */
final class CacheReplay {
  private static final Logger log = LoggerFactory.getLogger(CacheReplay.class);
  static final String LIVE = "live";

  /** A partition's end offset, when a replay starts: how far it goes, for a partition the task has not written yet. */
  interface EndOffsets {
    Map<TopicPartition, Long> of(Collection<TopicPartition> partitions);
  }

  /** One partition being replayed: to {@code target} (its end offset when the replay began). */
  private record Replay(long target, long since) {}

  private final String key;
  private final long intervalMs;
  private final Clock clock;
  private final EndOffsets endOffsets;
  private final Map<TopicPartition, Long> written = new HashMap<>();
  private final Map<TopicPartition, Replay> replaying = new HashMap<>();
  /** Records a replay has read so far (compaction leaves far fewer than the offsets it spans). */
  private final Map<TopicPartition, Long> replayed = new HashMap<>();
  private long nextCheck;

  CacheReplay(String key, long intervalMs, Clock clock, EndOffsets endOffsets) {
    this.key = key;
    this.intervalMs = intervalMs;
    this.clock = clock;
    this.endOffsets = endOffsets;
  }

  /** "live", or "live replayed=<epoch ms>" once a replay of the partition has finished. */
  static boolean isLive(String marker) {
    return marker.equals(LIVE) || marker.startsWith(LIVE + " ");
  }

  static String field(TopicPartition tp) {
    return tp.topic() + ":" + tp.partition();
  }

  /** Offsets written to Redis (after the batch succeeded). */
  void written(TopicPartition tp, long offset) {
    written.merge(tp, offset, Math::max);
    Replay r = replaying.get(tp);
    if (r != null && offset < r.target()) {
      replayed.merge(tp, 1L, Long::sum);
    }
  }

  /** Check at the next {@link #check}: partitions were assigned, or a write failed (Redis may have restarted). */
  void checkSoon() {
    nextCheck = 0;
  }

  void closed(Collection<TopicPartition> partitions) {
    partitions.forEach(tp -> {
      written.remove(tp);
      replaying.remove(tp);
      replayed.remove(tp);
    });
  }

  boolean replaying() {
    return !replaying.isEmpty();
  }

  /**
   * Reads the markers of the assigned partitions (at most every interval); returns the partitions to
   * rewind and where to: offset 0 for a lost marker, the replay's progress for a replay begun before the
   * partition was assigned here. Marks replays that reached their target live and records the others'
   * progress.
   */
  Map<TopicPartition, Long> check(ShardedWriter writer, Set<TopicPartition> assignment) {
    long now = clock.millis();
    if (now < nextCheck || assignment.isEmpty()) {
      return Map.of();
    }
    nextCheck = now + intervalMs;
    List<TopicPartition> tps = new ArrayList<>(assignment);
    List<String> markers = writer.readHash(key, tps.stream().map(CacheReplay::field).toList());
    List<TopicPartition> lost = new ArrayList<>();
    List<TopicPartition> adopted = new ArrayList<>();
    Map<TopicPartition, Long> rewind = new HashMap<>();
    Map<String, String> updates = new LinkedHashMap<>();
    for (int i = 0; i < tps.size(); i++) {
      TopicPartition tp = tps.get(i);
      String marker = markers.get(i);
      if (marker == null) {
        lost.add(tp);
      } else if (!isLive(marker) && !replaying.containsKey(tp)) {
        // A replay another task (or this one, before a rebalance or a crash) began: go on from what the
        // marker says was written since it began. Not from the committed offsets: those can be the
        // position before the replay (committed between the rewind's request and the seek).
        long done = parse(marker, "done", 0L);
        long target = parse(marker, "target", 0L);
        if (done >= target) {
          updates.put(field(tp), LIVE + " replayed=" + now);
        } else {
          replaying.put(tp, new Replay(target, parse(marker, "since", now)));
          written.remove(tp); // what the batch before this check wrote is past the seek: it counts again when replayed
          replayed.remove(tp);
          rewind.put(tp, done);
          adopted.add(tp);
        }
      } else if (isLive(marker) && replaying.containsKey(tp)) {
        replaying.remove(tp); // finished by the task that held it before a rebalance
      }
    }
    if (!adopted.isEmpty()) {
      log.info("Going on with the replay of {} partition(s) begun before they were assigned here: {}", adopted.size(),
          adopted.stream().map(tp -> tp + " from offset " + rewind.get(tp)).toList());
    }
    if (!lost.isEmpty()) {
      // How far a replay must go: past every offset this task had taken (what Connect may have committed).
      // Only a partition it has not written since it was assigned needs the end offset, from the brokers:
      // that round trip (a new admin client's TLS and SASL handshakes first) took 0.8–2 s on the lab.
      List<TopicPartition> unknown = lost.stream().filter(tp -> !written.containsKey(tp)).toList();
      Map<TopicPartition, Long> ends = unknown.isEmpty() ? Map.of() : ends(unknown);
      for (TopicPartition tp : lost) {
        long target = written.containsKey(tp) ? written.get(tp) + 1 : ends.getOrDefault(tp, 0L);
        written.remove(tp);
        if (target <= 0) {
          updates.put(field(tp), LIVE);
          continue;
        }
        replaying.put(tp, new Replay(target, now));
        replayed.remove(tp);
        rewind.put(tp, 0L);
      }
      log.warn("Redis holds no cache marker for {} partition(s) ({}): Redis lost its data or a rebuild was asked for; "
          + "replaying them from offset 0", lost.size(), lost);
    }
    for (Map.Entry<TopicPartition, Replay> e : new ArrayList<>(replaying.entrySet())) {
      TopicPartition tp = e.getKey();
      Replay r = e.getValue();
      long done = rewind.containsKey(tp) ? rewind.get(tp) : written.getOrDefault(tp, -1L) + 1;
      if (!rewind.containsKey(tp) && done >= r.target()) {
        replaying.remove(tp);
        // When it finished stays visible (monitoring: a replay shorter than a scrape interval).
        updates.put(field(tp), LIVE + " replayed=" + now);
        log.info("Replay of {} done: offsets up to {}, {} records read here, in {} ms", tp, r.target(),
            replayed.getOrDefault(tp, 0L), now - r.since());
        replayed.remove(tp);
      } else {
        updates.put(field(tp), "replaying target=" + r.target() + " done=" + Math.max(0, done) + " since=" + r.since());
      }
    }
    writer.writeHash(key, updates);
    return rewind;
  }

  private Map<TopicPartition, Long> ends(List<TopicPartition> tps) {
    if (endOffsets == null) {
      return Map.of();
    }
    try {
      return endOffsets.of(tps);
    } catch (RuntimeException e) {
      log.warn("Could not read the end offsets of {} ({}); this task has written nothing there, so nothing is replayed",
          tps, e.toString());
      return Map.of();
    }
  }

  static long parse(String marker, String name, long fallback) {
    for (String part : marker.split(" ")) {
      if (part.startsWith(name + "=")) {
        try {
          return Long.parseLong(part.substring(name.length() + 1));
        } catch (NumberFormatException e) {
          return fallback;
        }
      }
    }
    return fallback;
  }
}
