package io.rastro.connect.redis;

/** The plugin's version, from its jar's manifest (written from pom.xml); "dev" outside a jar. */
final class Version {
  static final String VERSION = java.util.Objects.requireNonNullElse(
      Version.class.getPackage().getImplementationVersion(), "dev");

  private Version() {}
}
