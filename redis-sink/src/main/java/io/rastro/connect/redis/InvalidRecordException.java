package io.rastro.connect.redis;

import org.apache.kafka.connect.errors.DataException;

/** A record that breaks the contract; goes to the dead letter queue with this message. */
public class InvalidRecordException extends DataException {
  public InvalidRecordException(String message) {
    super(message);
  }
}
