package io.rastro.connect.redis;

final class Version {
  static final String VERSION = "0.1.1";

  private Version() {}
}
