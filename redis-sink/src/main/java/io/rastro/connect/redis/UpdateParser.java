package io.rastro.connect.redis;

import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.math.BigDecimal;
import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.time.Clock;
import java.time.DateTimeException;
import java.time.Duration;
import java.time.Instant;
import java.util.Iterator;
import java.util.Set;
import java.util.regex.Pattern;

/**
 * Parses and validates a record against the contract (docs/contracts.md). An update stamped further
 * ahead of this parser's clock than the allowed skew is refused: the stale-write guard keeps the
 * newest timestamp, so one such update would freeze its driver until the clock caught up.
 */
public final class UpdateParser {
  /** The default for {@code timestamp.max.future.skew.ms}. */
  public static final Duration DEFAULT_MAX_FUTURE_SKEW = Duration.ofMinutes(2);

  static final Set<String> FIELDS = Set.of("driver_id", "latitude", "longitude", "timestamp", "status");
  static final Set<String> STATUSES = Set.of("available", "busy", "offline");
  private static final Pattern DRIVER_ID = Pattern.compile("^[A-Za-z0-9._:-]{1,128}$");
  private static final Pattern TIMESTAMP = Pattern.compile("^\\d{4}-\\d{2}-\\d{2}T\\d{2}:\\d{2}:\\d{2}\\.\\d{3}Z$");
  private static final BigDecimal LAT = BigDecimal.valueOf(90);
  private static final BigDecimal LON = BigDecimal.valueOf(180);

  private final Clock clock;
  private final Duration maxFutureSkew;

  public UpdateParser() {
    this(Clock.systemUTC(), DEFAULT_MAX_FUTURE_SKEW);
  }

  public UpdateParser(Clock clock, Duration maxFutureSkew) {
    this.clock = clock;
    this.maxFutureSkew = maxFutureSkew;
  }

  private final ObjectMapper mapper = new ObjectMapper()
      .enable(DeserializationFeature.USE_BIG_DECIMAL_FOR_FLOATS)
      .enable(DeserializationFeature.FAIL_ON_READING_DUP_TREE_KEY)
      .enable(JsonParser.Feature.STRICT_DUPLICATE_DETECTION);

  /** Parse one record; key and value as the converters gave them (String/byte[] or null). */
  public DriverUpdate parse(Object key, Object value) {
    String driverKey = text(key, "key");
    if (driverKey == null) {
      throw new InvalidRecordException("key: a record key (driver_id) is required (got null)");
    }
    if (value == null) {
      requireDriverId(driverKey, "key");
      return DriverUpdate.tombstone(driverKey);
    }
    String json = text(value, "value");
    JsonNode node;
    try {
      node = mapper.readTree(json);
    } catch (JsonProcessingException e) {
      throw new InvalidRecordException("value: is not JSON (" + e.getOriginalMessage() + "): " + preview(json));
    }
    if (node == null || !node.isObject()) {
      throw new InvalidRecordException("value: must be a JSON object (got " + preview(json) + ")");
    }
    for (String field : new String[] {"driver_id", "latitude", "longitude", "timestamp", "status"}) {
      if (!node.has(field)) {
        throw new InvalidRecordException(field + ": is required");
      }
    }
    for (Iterator<String> it = node.fieldNames(); it.hasNext(); ) {
      String field = it.next();
      if (!FIELDS.contains(field)) {
        throw new InvalidRecordException(field + ": is not part of the contract (got " + node.get(field) + ")");
      }
    }
    JsonNode id = node.get("driver_id");
    if (!id.isTextual()) {
      throw new InvalidRecordException("driver_id: must be a string (got " + id + ")");
    }
    requireDriverId(id.asText(), "driver_id");
    if (!id.asText().equals(driverKey)) {
      throw new InvalidRecordException("driver_id: must equal the record key '" + driverKey + "' (got '" + id.asText() + "')");
    }
    String lat = coordinate(node.get("latitude"), "latitude", LAT);
    String lon = coordinate(node.get("longitude"), "longitude", LON);
    JsonNode ts = node.get("timestamp");
    if (!ts.isTextual() || !TIMESTAMP.matcher(ts.asText()).matches()) {
      throw new InvalidRecordException("timestamp: must be ISO-8601 UTC with milliseconds like 2026-11-22T10:30:45.123Z (got " + ts + ")");
    }
    Instant at;
    try {
      at = Instant.parse(ts.asText());
    } catch (DateTimeException e) {
      throw new InvalidRecordException("timestamp: is not a real date and time (got " + ts + ")");
    }
    Instant now = clock.instant();
    if (at.isAfter(now.plus(maxFutureSkew))) {
      throw new InvalidRecordException("timestamp: is " + Duration.between(now, at).toMillis() / 1000.0
          + " s ahead of the sink's clock (" + now + "), more than the " + maxFutureSkew.toMillis() / 1000.0
          + " s allowed by timestamp.max.future.skew.ms (got " + ts + ")");
    }
    JsonNode status = node.get("status");
    if (!status.isTextual() || !STATUSES.contains(status.asText())) {
      throw new InvalidRecordException("status: must be one of available, busy, offline (got " + status + ")");
    }
    return new DriverUpdate(driverKey, lat, lon, ts.asText(), status.asText(), false);
  }

  private static void requireDriverId(String id, String field) {
    if (!DRIVER_ID.matcher(id).matches()) {
      throw new InvalidRecordException(field + ": must be 1-128 characters of letters, digits, '.', '_', ':' or '-' (got '" + preview(id) + "')");
    }
  }

  private static String coordinate(JsonNode n, String field, BigDecimal limit) {
    if (!n.isNumber()) {
      throw new InvalidRecordException(field + ": must be a number (got " + n + ")");
    }
    BigDecimal v = n.decimalValue();
    if (v.abs().compareTo(limit) > 0) {
      throw new InvalidRecordException(field + ": must be between -" + limit + " and " + limit + " (got " + n + ")");
    }
    return v.toPlainString();
  }

  private static String text(Object o, String what) {
    if (o == null) {
      return null;
    }
    if (o instanceof String s) {
      return s;
    }
    byte[] bytes;
    if (o instanceof byte[] b) {
      bytes = b;
    } else if (o instanceof ByteBuffer bb) {
      bytes = new byte[bb.remaining()];
      bb.duplicate().get(bytes);
    } else {
      throw new InvalidRecordException(what + ": expected a string or bytes from the converter (got " + o.getClass().getName() + ")");
    }
    try {
      return StandardCharsets.UTF_8.newDecoder()
          .onMalformedInput(CodingErrorAction.REPORT)
          .onUnmappableCharacter(CodingErrorAction.REPORT)
          .decode(ByteBuffer.wrap(bytes)).toString();
    } catch (CharacterCodingException e) {
      throw new InvalidRecordException(what + ": is not valid UTF-8 (" + bytes.length + " bytes)");
    }
  }

  private static String preview(String s) {
    return s.length() > 80 ? s.substring(0, 80) + "..." : s;
  }
}
