package io.rastro.connect.redis;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.apache.kafka.common.config.ConfigException;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import redis.clients.jedis.exceptions.JedisConnectionException;

/** The writer against a real redis-server that speaks TLS only. */
class RedisTlsTest {
  private static Path certs;
  private static Path otherCa;
  private static RedisServer redis;

  @BeforeAll
  static void start() throws Exception {
    certs = TestCertificates.create("rastro-test-ca");
    otherCa = TestCertificates.create("another-ca");
    redis = new RedisServer(certs, "--user", "default", "off", "--user", "sink", "on", ">s3cret", "~*", "+@all");
  }

  @AfterAll
  static void stop() throws Exception {
    redis.close();
  }

  private static RedisWriter writer(String host, Path ca) {
    return new RedisWriter(host, redis.port, "sink", "s3cret", 2000, "driver:", "drivers:geo",
        RedisTls.socketFactory(ca.resolve("ca.pem").toString()));
  }

  @Test
  void writesOverTlsWhenTheServerIsSignedByTheGivenCa() {
    try (RedisWriter w = writer("127.0.0.1", certs)) {
      assertEquals(RedisWriter.Outcome.APPLIED, w.apply(List.of(RedisWriterTest.u("tls1", "1", "1",
          "2026-11-22T10:00:00.000Z", "busy")), 10).get(0).outcome());
    }
  }

  @Test
  void aServerSignedByAnotherCaIsRefused() {
    try (RedisWriter w = writer("127.0.0.1", otherCa)) {
      assertThrows(JedisConnectionException.class, w::ping);
    }
  }

  @Test
  void aHostNameTheCertificateDoesNotNameIsRefused() {
    // Same server, reached as "localhost": the certificate names only 127.0.0.1.
    try (RedisWriter w = writer("localhost", certs)) {
      assertThrows(JedisConnectionException.class, w::ping);
    }
  }

  @Test
  void aPlaintextClientGetsNoAnswer() {
    try (RedisWriter w = new RedisWriter("127.0.0.1", redis.port, "sink", "s3cret", 1000, "driver:", "drivers:geo")) {
      assertThrows(JedisConnectionException.class, w::ping);
    }
  }

  @Test
  void aMissingCaFileIsRefusedNamingTheKey() {
    ConfigException e = assertThrows(ConfigException.class, () -> new RedisSinkConfig(Map.of(
        "redis.host", "127.0.0.1", "redis.tls.enabled", "true", "redis.tls.ca.file", "/nonexistent/ca.pem")));
    assertTrue(e.getMessage().contains("redis.tls.ca.file") && e.getMessage().contains("/nonexistent/ca.pem"),
        e.getMessage());
  }

  @Test
  void aFileWithoutCertificatesIsRefusedNamingTheKey() {
    ConfigException e = assertThrows(ConfigException.class,
        () -> RedisTls.socketFactory(certs.resolve("san.ext").toString()));
    assertTrue(e.getMessage().contains("redis.tls.ca.file"), e.getMessage());
  }
}
