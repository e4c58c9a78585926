package io.rastro.connect.redis;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.apache.kafka.common.config.Config;
import org.apache.kafka.common.config.ConfigDef;
import org.apache.kafka.connect.connector.Task;
import org.apache.kafka.connect.sink.SinkConnector;

/** Mirrors driver-locations into Redis: exactly one hash per driver, the latest update. */
public class RedisSinkConnector extends SinkConnector {
  private Map<String, String> props;

  @Override
  public void start(Map<String, String> props) {
    new RedisSinkConfig(props); // fail fast on a bad configuration
    this.props = props;
  }

  @Override
  public Class<? extends Task> taskClass() {
    return RedisSinkTask.class;
  }

  @Override
  public List<Map<String, String>> taskConfigs(int maxTasks) {
    List<Map<String, String>> configs = new ArrayList<>(maxTasks);
    for (int i = 0; i < maxTasks; i++) {
      configs.add(props);
    }
    return configs;
  }

  @Override
  public void stop() {}

  /** Per-key errors, plus the one that needs two keys: a server (redis.host) or Sentinels (redis.sentinels). */
  @Override
  public Config validate(Map<String, String> connectorConfigs) {
    Config result = super.validate(connectorConfigs);
    String host = connectorConfigs.getOrDefault(RedisSinkConfig.HOST, "");
    String sentinels = connectorConfigs.getOrDefault(RedisSinkConfig.SENTINELS, "");
    if (host.isBlank() && sentinels.isBlank()) {
      result.configValues().stream().filter(v -> v.name().equals(RedisSinkConfig.HOST)).findFirst()
          .ifPresent(v -> v.addErrorMessage("Invalid value '" + host + "' for configuration " + RedisSinkConfig.HOST
              + ": must be set when " + RedisSinkConfig.SENTINELS + " is empty"));
    }
    return result;
  }

  @Override
  public ConfigDef config() {
    return RedisSinkConfig.CONFIG_DEF;
  }

  @Override
  public String version() {
    return Version.VERSION;
  }
}
