package io.rastro.connect.redis;

/**
 * One record of driver-locations, validated: an update, or a tombstone when {@code tombstone}.
 * Coordinates keep the exact digits of the JSON text, so Redis holds what the producer sent.
 */
public record DriverUpdate(String driverId, String latitude, String longitude, String timestamp,
                           String status, boolean tombstone) {
  static DriverUpdate tombstone(String driverId) {
    return new DriverUpdate(driverId, null, null, null, null, true);
  }
}
