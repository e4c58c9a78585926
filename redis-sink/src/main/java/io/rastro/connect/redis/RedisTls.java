package io.rastro.connect.redis;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.security.KeyStore;
import java.security.cert.Certificate;
import java.security.cert.CertificateFactory;
import java.util.Collection;
import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLParameters;
import javax.net.ssl.SSLSocketFactory;
import javax.net.ssl.TrustManagerFactory;
import org.apache.kafka.common.config.ConfigException;

/** TLS towards Redis: trust the CA certificates of a PEM file (or the JVM's), check the host name. */
final class RedisTls {
  private RedisTls() {}

  /** A socket factory trusting the certificates in {@code caFile}; the JVM's trust store when empty. */
  static SSLSocketFactory socketFactory(String caFile) {
    try {
      SSLContext ctx = SSLContext.getInstance("TLS");
      if (caFile == null || caFile.isEmpty()) {
        ctx.init(null, null, null);
        return ctx.getSocketFactory();
      }
      KeyStore trust = KeyStore.getInstance(KeyStore.getDefaultType());
      trust.load(null, null);
      Collection<? extends Certificate> certs;
      try (InputStream in = Files.newInputStream(Path.of(caFile))) {
        certs = CertificateFactory.getInstance("X.509").generateCertificates(in);
      }
      if (certs.isEmpty()) {
        throw new ConfigException(RedisSinkConfig.TLS_CA_FILE, caFile, "holds no PEM certificate");
      }
      int i = 0;
      for (Certificate c : certs) {
        trust.setCertificateEntry("ca-" + i++, c);
      }
      TrustManagerFactory tmf = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
      tmf.init(trust);
      ctx.init(null, tmf.getTrustManagers(), null);
      return ctx.getSocketFactory();
    } catch (IOException | GeneralSecurityException e) {
      throw new ConfigException(RedisSinkConfig.TLS_CA_FILE, caFile, "cannot be read as PEM certificates: " + e);
    }
  }

  /** The server's certificate must name the host connected to (DNS name or IP address in its SAN). */
  static SSLParameters verifyHostName() {
    SSLParameters p = new SSLParameters();
    p.setEndpointIdentificationAlgorithm("HTTPS");
    return p;
  }
}
