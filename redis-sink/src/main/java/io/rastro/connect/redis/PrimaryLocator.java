package io.rastro.connect.redis;

import java.util.ArrayList;
import java.util.List;
import redis.clients.jedis.HostAndPort;
import redis.clients.jedis.Jedis;
import redis.clients.jedis.JedisClientConfig;
import redis.clients.jedis.exceptions.JedisConnectionException;
import redis.clients.jedis.exceptions.JedisException;

/** Where the Redis primary is: a fixed address, or what the first Sentinel that answers says. */
abstract class PrimaryLocator {
  abstract HostAndPort primary();

  abstract boolean viaSentinels();

  static PrimaryLocator fixed(HostAndPort address) {
    return new PrimaryLocator() {
      @Override HostAndPort primary() { return address; }
      @Override boolean viaSentinels() { return false; }
      @Override public String toString() { return address.toString(); }
    };
  }

  /** Asks the Sentinels in turn (the one that answered last first); none answering is a connection failure. */
  static PrimaryLocator sentinels(List<HostAndPort> sentinels, String master, JedisClientConfig config) {
    return new PrimaryLocator() {
      private final List<HostAndPort> order = new ArrayList<>(sentinels);

      @Override
      HostAndPort primary() {
        List<String> failures = new ArrayList<>();
        for (HostAndPort s : List.copyOf(order)) {
          try (Jedis sentinel = new Jedis(s, config)) {
            List<String> addr = sentinel.sentinelGetMasterAddrByName(master);
            if (addr == null || addr.size() != 2) {
              failures.add(s + ": knows no primary named " + master);
              continue;
            }
            order.remove(s);
            order.add(0, s);
            return new HostAndPort(addr.get(0), Integer.parseInt(addr.get(1)));
          } catch (JedisException | NumberFormatException e) {
            failures.add(s + ": " + e.getMessage());
          }
        }
        throw new JedisConnectionException("no Sentinel named the primary " + master + ": " + String.join("; ", failures));
      }

      @Override boolean viaSentinels() { return true; }

      @Override public String toString() { return "the primary " + master + " of Sentinels " + sentinels; }
    };
  }
}
