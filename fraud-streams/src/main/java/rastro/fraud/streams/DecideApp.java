package rastro.fraud.streams;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.FileInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.time.Instant;
import java.util.Properties;
import java.util.concurrent.CountDownLatch;
import org.apache.kafka.common.serialization.Serdes;
import org.apache.kafka.streams.KafkaStreams;
import org.apache.kafka.streams.StreamsBuilder;
import org.apache.kafka.streams.StreamsConfig;
import org.apache.kafka.streams.kstream.Consumed;
import org.apache.kafka.streams.kstream.GlobalKTable;
import org.apache.kafka.streams.kstream.KStream;
import org.apache.kafka.streams.kstream.Produced;

/**
 * The fraud decision path without the model, in Kafka Streams: each transaction of the input topic
 * is checked against the three blocklists (global tables: every instance holds them whole, as the
 * Python service does) and gets one decision on the output topic, APPROVED or DENIED_BLOCKLIST with
 * the reasons, exactly once (exactly_once_v2). A malformed transaction is decided as such
 * (outcome INVALID) rather than dropped, so that every input has one output to count.
 *
 * <p>Usage: DecideApp CLIENT_CONFIG APPLICATION_ID INPUT OUTPUT [BLOCKLIST_PREFIX]. CLIENT_CONFIG
 * is a Kafka client properties file (credentials/&lt;inventory&gt;/kafka/bench.properties).
 */
public final class DecideApp {
  private static final ObjectMapper JSON = new ObjectMapper();

  private DecideApp() {}

  /** The decision record for a transaction, given the blocklist entries found (null: not listed). */
  static String decide(String value, String card, String user, String site) {
    ObjectNode out = JSON.createObjectNode();
    JsonNode tx;
    try {
      tx = JSON.readTree(value);
    } catch (IOException e) {
      tx = null;
    }
    if (tx == null || !tx.hasNonNull("transaction_id") || !tx.hasNonNull("card_id")) {
      out.put("transaction_id", tx != null && tx.hasNonNull("transaction_id") ? tx.get("transaction_id").asText() : "");
      out.put("outcome", "INVALID");
      return out.toString();
    }
    ArrayNode reasons = out.putArray("reasons");
    if (card != null) {
      reasons.add("card " + tx.get("card_id").asText() + " blocklisted: " + reason(card));
    }
    if (user != null) {
      reasons.add("user " + tx.path("user_id").asText() + " blocklisted: " + reason(user));
    }
    if (site != null) {
      reasons.add("site " + tx.path("site_id").asText() + " blocklisted: " + reason(site));
    }
    out.put("transaction_id", tx.get("transaction_id").asText());
    out.put("card_id", tx.get("card_id").asText());
    out.put("transaction_timestamp", tx.path("timestamp").asText());
    out.put("outcome", reasons.isEmpty() ? "APPROVED" : "DENIED_BLOCKLIST");
    out.put("decided_at", Instant.now().toString());
    return out.toString();
  }

  private static String reason(String entry) {
    try {
      return JSON.readTree(entry).path("reason").asText("listed");
    } catch (IOException e) {
      return "listed";
    }
  }

  private static String field(String value, String name) {
    try {
      JsonNode n = JSON.readTree(value).get(name);
      return n == null || n.isNull() ? "" : n.asText();
    } catch (IOException e) {
      return "";
    }
  }

  public static void main(String[] args) throws Exception {
    if (args.length < 4) {
      System.err.println("usage: DecideApp CLIENT_CONFIG APPLICATION_ID INPUT OUTPUT [BLOCKLIST_PREFIX]");
      System.exit(2);
    }
    Properties props = new Properties();
    try (InputStream in = new FileInputStream(args[0])) {
      props.load(in);
    }
    // librdkafka-only keys in the shared client files; the Java client would warn about each.
    for (String key : new String[] {"sasl.username", "sasl.password", "ssl.ca.location", "sasl.mechanisms"}) {
      props.remove(key);
    }
    props.put(StreamsConfig.APPLICATION_ID_CONFIG, args[1]);
    props.put(StreamsConfig.PROCESSING_GUARANTEE_CONFIG, StreamsConfig.EXACTLY_ONCE_V2);
    props.put(StreamsConfig.NUM_STREAM_THREADS_CONFIG, Integer.getInteger("threads", 1));
    props.put(StreamsConfig.COMMIT_INTERVAL_MS_CONFIG, Integer.getInteger("commitMs", 100));
    props.put(StreamsConfig.STATE_DIR_CONFIG, System.getProperty("stateDir", "/tmp/rastro-fraud-streams"));
    props.put(StreamsConfig.producerPrefix("compression.type"), "zstd");
    props.put(StreamsConfig.producerPrefix("linger.ms"), 5);
    String prefix = args.length > 4 ? args[4] : "fraud-blocklist-";

    StreamsBuilder b = new StreamsBuilder();
    Consumed<String, String> strings = Consumed.with(Serdes.String(), Serdes.String());
    GlobalKTable<String, String> cards = b.globalTable(prefix + "card", strings);
    GlobalKTable<String, String> users = b.globalTable(prefix + "user", strings);
    GlobalKTable<String, String> sites = b.globalTable(prefix + "site", strings);
    KStream<String, String> tx = b.stream(args[2], strings);
    // value → [value, card entry, user entry, site entry] through three left joins on the global tables.
    tx.leftJoin(cards, (k, v) -> field(v, "card_id"), (v, c) -> new String[] {v, c, null, null})
        .leftJoin(users, (k, a) -> field(a[0], "user_id"), (a, u) -> new String[] {a[0], a[1], u, null})
        .leftJoin(sites, (k, a) -> field(a[0], "site_id"), (a, s) -> new String[] {a[0], a[1], a[2], s})
        .mapValues(a -> decide(a[0], a[1], a[2], a[3]))
        .to(args[3], Produced.with(Serdes.String(), Serdes.String()));

    KafkaStreams streams = new KafkaStreams(b.build(), props);
    CountDownLatch done = new CountDownLatch(1);
    Runtime.getRuntime().addShutdownHook(new Thread(() -> {
      streams.close();
      done.countDown();
    }));
    streams.setStateListener((now, before) -> System.err.println("state " + before + " -> " + now));
    streams.start();
    done.await();
  }
}
