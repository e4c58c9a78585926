package io.rastro.connect.redis;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The writes a batch needs, per driver, for Redis to end as if every update had been applied in
 * order: the driver's last tombstone (if any), then the newest update after it (by timestamp; the
 * later one on a tie, as the stale-write guard lets an equal timestamp through). A replay reads many
 * superseded updates per driver in one batch; only these reach Redis.
 */
final class Coalescer {
  private Coalescer() {}

  /** Indices into {@code updates} of the writes to make, in a valid order. */
  static List<Integer> writes(List<DriverUpdate> updates) {
    Map<String, int[]> perDriver = new LinkedHashMap<>(); // driver -> {last tombstone, newest update after it}
    for (int i = 0; i < updates.size(); i++) {
      DriverUpdate u = updates.get(i);
      int[] w = perDriver.computeIfAbsent(u.driverId(), k -> new int[] {-1, -1});
      if (u.tombstone()) {
        w[0] = i;
        w[1] = -1;
      } else if (w[1] < 0 || u.timestamp().compareTo(updates.get(w[1]).timestamp()) >= 0) {
        w[1] = i;
      }
    }
    List<Integer> out = new ArrayList<>(perDriver.size());
    for (int[] w : perDriver.values()) {
      if (w[0] >= 0) {
        out.add(w[0]);
      }
      if (w[1] >= 0) {
        out.add(w[1]);
      }
    }
    return out;
  }
}
