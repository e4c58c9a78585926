package io.rastro.connect.redis;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.time.ZoneOffset;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

class UpdateParserTest {
  private final UpdateParser parser = new UpdateParser();
  private static final String GOOD = "{\"driver_id\":\"d-1\",\"latitude\":-23.540372,\"longitude\":-46.791126,"
      + "\"timestamp\":\"2026-11-22T10:30:45.123Z\",\"status\":\"available\"}";

  @Test
  void parsesGoodUpdateKeepingDigits() {
    DriverUpdate u = parser.parse("d-1", GOOD.getBytes(StandardCharsets.UTF_8));
    assertEquals(new DriverUpdate("d-1", "-23.540372", "-46.791126", "2026-11-22T10:30:45.123Z", "available", false), u);
  }

  @Test
  void nullValueIsTombstone() {
    assertEquals(DriverUpdate.tombstone("d-1"), parser.parse("d-1", null));
  }

  @ParameterizedTest
  @CsvSource(delimiter = '|', value = {
      "d-1|{nope|value: is not JSON",
      "d-1|[1,2]|value: must be a JSON object",
      "d-1|{\"driver_id\":\"d-1\",\"latitude\":1,\"longitude\":2,\"timestamp\":\"2026-11-22T10:30:45.123Z\"}|status: is required",
      "d-1|{\"driver_id\":\"d-1\",\"latitude\":1,\"longitude\":2,\"timestamp\":\"2026-11-22T10:30:45.123Z\",\"status\":\"busy\",\"speed\":3}|speed: is not part of the contract (got 3)",
      "d-2|" + "{\"driver_id\":\"d-1\",\"latitude\":1,\"longitude\":2,\"timestamp\":\"2026-11-22T10:30:45.123Z\",\"status\":\"busy\"}|driver_id: must equal the record key 'd-2' (got 'd-1')",
      "d-1|{\"driver_id\":\"d-1\",\"latitude\":91,\"longitude\":2,\"timestamp\":\"2026-11-22T10:30:45.123Z\",\"status\":\"busy\"}|latitude: must be between -90 and 90 (got 91)",
      "d-1|{\"driver_id\":\"d-1\",\"latitude\":1,\"longitude\":-180.5,\"timestamp\":\"2026-11-22T10:30:45.123Z\",\"status\":\"busy\"}|longitude: must be between -180 and 180 (got -180.5)",
      "d-1|{\"driver_id\":\"d-1\",\"latitude\":\"1\",\"longitude\":2,\"timestamp\":\"2026-11-22T10:30:45.123Z\",\"status\":\"busy\"}|latitude: must be a number (got \"1\")",
      "d-1|{\"driver_id\":\"d-1\",\"latitude\":1,\"longitude\":2,\"timestamp\":\"2026-11-22 10:30:45\",\"status\":\"busy\"}|timestamp: must be ISO-8601",
      "d-1|{\"driver_id\":\"d-1\",\"latitude\":1,\"longitude\":2,\"timestamp\":\"2026-02-30T10:30:45.123Z\",\"status\":\"busy\"}|timestamp: is not a real date",
      "d-1|{\"driver_id\":\"d-1\",\"latitude\":1,\"longitude\":2,\"timestamp\":\"2026-11-22T10:30:45.123Z\",\"status\":\"lunch\"}|status: must be one of available, busy, offline (got \"lunch\")",
      "d-1|{\"driver_id\":1,\"latitude\":1,\"longitude\":2,\"timestamp\":\"2026-11-22T10:30:45.123Z\",\"status\":\"busy\"}|driver_id: must be a string (got 1)",
  })
  void malformedRecordsNameTheField(String key, String value, String message) {
    InvalidRecordException e = assertThrows(InvalidRecordException.class,
        () -> parser.parse(key, value.getBytes(StandardCharsets.UTF_8)));
    assertTrue(e.getMessage().startsWith(message) || e.getMessage().contains(message), e.getMessage());
  }

  @Test
  void invalidUtf8IsMalformed() {
    InvalidRecordException e = assertThrows(InvalidRecordException.class,
        () -> parser.parse("d-1", new byte[] {(byte) 0xC3, (byte) 0x28}));
    assertTrue(e.getMessage().startsWith("value: is not valid UTF-8"), e.getMessage());
  }

  private static byte[] stampedAt(String timestamp) {
    return ("{\"driver_id\":\"d-1\",\"latitude\":1,\"longitude\":2,\"timestamp\":\"" + timestamp
        + "\",\"status\":\"busy\"}").getBytes(StandardCharsets.UTF_8);
  }

  @Test
  void updateTooFarAheadOfTheClockIsRefusedWithTheReason() {
    Clock clock = Clock.fixed(Instant.parse("2026-11-22T10:30:00.000Z"), ZoneOffset.UTC);
    UpdateParser guarded = new UpdateParser(clock, Duration.ofMinutes(2));
    InvalidRecordException e = assertThrows(InvalidRecordException.class,
        () -> guarded.parse("d-1", stampedAt("2026-11-22T10:32:00.001Z")));
    assertTrue(e.getMessage().startsWith("timestamp: is 120.001 s ahead of the sink's clock (2026-11-22T10:30:00Z), "
        + "more than the 120.0 s allowed by timestamp.max.future.skew.ms"), e.getMessage());
    // A year ahead, as a bad device clock would stamp it.
    assertThrows(InvalidRecordException.class, () -> guarded.parse("d-1", stampedAt("2027-11-22T10:30:00.000Z")));
  }

  @Test
  void updateWithinTheSkewOrInThePastIsAccepted() {
    Clock clock = Clock.fixed(Instant.parse("2026-11-22T10:30:00.000Z"), ZoneOffset.UTC);
    UpdateParser guarded = new UpdateParser(clock, Duration.ofMinutes(2));
    assertEquals("2026-11-22T10:32:00.000Z", guarded.parse("d-1", stampedAt("2026-11-22T10:32:00.000Z")).timestamp());
    assertEquals("2020-01-01T00:00:00.000Z", guarded.parse("d-1", stampedAt("2020-01-01T00:00:00.000Z")).timestamp());
    // A skew of 0 refuses anything ahead of the clock at all.
    UpdateParser strict = new UpdateParser(clock, Duration.ZERO);
    assertThrows(InvalidRecordException.class, () -> strict.parse("d-1", stampedAt("2026-11-22T10:30:00.001Z")));
  }

  @Test
  void missingKeyIsMalformed() {
    InvalidRecordException e = assertThrows(InvalidRecordException.class, () -> parser.parse(null, GOOD));
    assertTrue(e.getMessage().startsWith("key: a record key"), e.getMessage());
  }
}
