package io.rastro.connect.redis;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

/** A throw-away CA and a server certificate for 127.0.0.1 made with openssl, for the TLS tests. */
final class TestCertificates {
  private TestCertificates() {}

  /** Writes ca.pem, ca.key, server.crt and server.key (SAN IP:127.0.0.1) into a new directory. */
  static Path create(String caName) throws IOException, InterruptedException {
    Path dir = Files.createTempDirectory("rastro-tls-test");
    Files.writeString(dir.resolve("san.ext"), "subjectAltName=IP:127.0.0.1\n");
    String ec = "ec_paramgen_curve:P-256";
    run(dir, "openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", ec, "-nodes", "-keyout", "ca.key",
        "-out", "ca.pem", "-subj", "/CN=" + caName, "-days", "2");
    run(dir, "openssl", "req", "-newkey", "ec", "-pkeyopt", ec, "-nodes", "-keyout", "server.key",
        "-out", "server.csr", "-subj", "/CN=redis-test");
    run(dir, "openssl", "x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
        "-CAcreateserial", "-out", "server.crt", "-days", "2", "-extfile", "san.ext");
    return dir;
  }

  private static void run(Path dir, String... cmd) throws IOException, InterruptedException {
    Process p = new ProcessBuilder(List.of(cmd)).directory(dir.toFile()).redirectErrorStream(true).start();
    String out = new String(p.getInputStream().readAllBytes());
    if (p.waitFor() != 0) {
      throw new IllegalStateException(String.join(" ", cmd) + " failed: " + out);
    }
  }
}
