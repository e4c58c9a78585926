package io.rastro.connect.redis;

import java.io.IOException;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;

/** A real redis-server (Debian's /usr/bin/redis-server) on a free loopback port, for tests. */
final class RedisServer implements AutoCloseable {
  final int port;
  private final Process process;
  private final Path dir;

  RedisServer(String... extraArgs) throws IOException, InterruptedException {
    this(null, extraArgs);
  }

  /**
   * With {@code tls} non-null: TLS only (no plaintext port), with that directory's server.crt,
   * server.key and ca.pem (see {@link TestCertificates}); clients need no certificate of their own.
   */
  RedisServer(Path tls, String... extraArgs) throws IOException, InterruptedException {
    this.port = freePort();
    this.dir = Files.createTempDirectory("rastro-redis-test");
    List<String> cmd = new ArrayList<>(List.of(
        System.getProperty("redis.server", "/usr/bin/redis-server"),
        "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", dir.toString()));
    if (tls == null) {
      cmd.addAll(List.of("--port", String.valueOf(port)));
    } else {
      cmd.addAll(List.of("--port", "0", "--tls-port", String.valueOf(port),
          "--tls-cert-file", tls.resolve("server.crt").toString(), "--tls-key-file", tls.resolve("server.key").toString(),
          "--tls-ca-cert-file", tls.resolve("ca.pem").toString(), "--tls-auth-clients", "no"));
    }
    cmd.addAll(List.of(extraArgs));
    this.process = new ProcessBuilder(cmd).redirectErrorStream(true)
        .redirectOutput(dir.resolve("redis.log").toFile()).start();
    awaitListening(port, process, dir.resolve("redis.log"));
  }

  private RedisServer(int port, Path dir, Process process) {
    this.port = port;
    this.dir = dir;
    this.process = process;
  }

  /** A real Sentinel (redis-server --sentinel) watching the primary at host:port under the name rastro. */
  static RedisServer sentinel(String host, int primaryPort) throws IOException, InterruptedException {
    int port = freePort();
    Path dir = Files.createTempDirectory("rastro-sentinel-test");
    Path conf = dir.resolve("sentinel.conf");
    Files.writeString(conf, "port " + port + "\nbind 127.0.0.1\ndir " + dir + "\n"
        + "sentinel monitor rastro " + host + " " + primaryPort + " 1\n");
    Process process = new ProcessBuilder(System.getProperty("redis.server", "/usr/bin/redis-server"), conf.toString(),
        "--sentinel").redirectErrorStream(true).redirectOutput(dir.resolve("sentinel.log").toFile()).start();
    awaitListening(port, process, dir.resolve("sentinel.log"));
    return new RedisServer(port, dir, process);
  }

  private static void awaitListening(int port, Process process, Path log) throws IOException, InterruptedException {
    Instant deadline = Instant.now().plus(Duration.ofSeconds(10));
    while (Instant.now().isBefore(deadline)) {
      try (Socket s = new Socket("127.0.0.1", port)) {
        return;
      } catch (IOException notYet) {
        if (!process.isAlive()) {
          throw new IllegalStateException("redis-server exited: " + Files.readString(log));
        }
        Thread.sleep(50);
      }
    }
    throw new IllegalStateException("redis-server did not listen on " + port);
  }

  static int freePort() throws IOException {
    try (ServerSocket s = new ServerSocket(0)) {
      return s.getLocalPort();
    }
  }

  @Override
  public void close() throws InterruptedException {
    process.destroy();
    process.waitFor();
  }
}
