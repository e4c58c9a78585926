package io.rastro.connect.redis;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Collection;
import java.util.HashMap;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.OffsetSpec;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.config.ConfigException;
import org.apache.kafka.connect.errors.ConnectException;

/**
 * End offsets of partitions through an admin client configured from a Kafka properties file: its
 * {@code bootstrap.servers} and its {@code admin.}-prefixed keys (a Connect worker's own file has both).
 * Created on first use, so a task that never replays never connects.
 */
final class KafkaEndOffsets implements CacheReplay.EndOffsets, AutoCloseable {
  private final Map<String, Object> config;
  private Admin admin;

  KafkaEndOffsets(String file) {
    Properties p = new Properties();
    try (InputStream in = Files.newInputStream(Path.of(file))) {
      p.load(in);
    } catch (IOException e) {
      throw new ConfigException(RedisSinkConfig.REPLAY_ADMIN_CONFIG_FILE, file, "cannot be read: " + e.getMessage());
    }
    Map<String, Object> c = new HashMap<>();
    for (String name : p.stringPropertyNames()) {
      if (name.startsWith("admin.") && AdminClientConfig.configNames().contains(name.substring(6))) {
        c.put(name.substring(6), p.getProperty(name));
      }
    }
    c.putIfAbsent(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, p.getProperty("bootstrap.servers"));
    if (c.get(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG) == null) {
      throw new ConfigException(RedisSinkConfig.REPLAY_ADMIN_CONFIG_FILE, file, "has no bootstrap.servers");
    }
    c.put(AdminClientConfig.CLIENT_ID_CONFIG, "rastro-redis-sink-replay");
    this.config = c;
  }

  @Override
  public synchronized Map<TopicPartition, Long> of(Collection<TopicPartition> partitions) {
    if (admin == null) {
      admin = Admin.create(config);
    }
    Map<TopicPartition, OffsetSpec> request = new HashMap<>();
    partitions.forEach(tp -> request.put(tp, OffsetSpec.latest()));
    try {
      Map<TopicPartition, Long> out = new HashMap<>();
      admin.listOffsets(request).all().get(30, TimeUnit.SECONDS).forEach((tp, info) -> out.put(tp, info.offset()));
      return out;
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new ConnectException("interrupted while reading end offsets", e);
    } catch (ExecutionException | TimeoutException e) {
      throw new ConnectException("cannot read the end offsets of " + partitions + ": " + e, e);
    }
  }

  @Override
  public synchronized void close() {
    if (admin != null) {
      admin.close();
      admin = null;
    }
  }
}
