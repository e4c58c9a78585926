"""Consumer-group lag: each group's committed offset against the partition's log end offset.

Metric names follow the community kafka_exporter, so dashboards written for it work here too.
Debian's confluent-kafka (1.7) has no ListConsumerGroupOffsets admin call, so committed offsets are
read with a consumer that carries the group id but never joins the group (OffsetFetch only)."""

from __future__ import annotations

import logging
import re
import threading
import time
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Iterable, Iterator, Optional

from confluent_kafka import Consumer, KafkaError, KafkaException, TopicPartition
from confluent_kafka.admin import AdminClient
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

log = logging.getLogger(__name__)

# Groups of this protocol are Connect's worker membership: they commit no offsets.
SKIPPED_PROTOCOL_TYPES = {"connect"}
# Errors a watermark query gets for a moment after a leader change or a topic deletion.
RETRIED_ERRORS = {KafkaError.NOT_LEADER_FOR_PARTITION, KafkaError.LEADER_NOT_AVAILABLE,
                  KafkaError.UNKNOWN_TOPIC_OR_PART}
RETRY_PAUSE = 1.0
# Watermark queries in flight at once: a partition whose leader is down costs one timeout, not one
# timeout per partition in a row (which, with a broker down, outlasted the refresh interval).
PARALLEL_QUERIES = 8


@dataclass(frozen=True)
class PartitionLag:
    group: str
    topic: str
    partition: int
    committed: int
    log_end: int

    @property
    def lag(self) -> int:
        # A committed offset past the end is possible for a moment after a truncation; never negative.
        return max(self.log_end - self.committed, 0)


def lags(committed: dict[tuple[str, int], int], log_end: dict[tuple[str, int], int], group: str) -> list[PartitionLag]:
    """Lag of every partition the group has committed to (negative offsets mean "none committed")."""
    return [PartitionLag(group, t, p, off, log_end[(t, p)])
            for (t, p), off in sorted(committed.items()) if off >= 0 and (t, p) in log_end]


def _up(value: int) -> GaugeMetricFamily:
    up = GaugeMetricFamily("rastro_exporter_lag_up", "1 if the last lag scrape reached Kafka")
    up.add_metric([], value)
    return up


class LagCollector(Collector):
    """With interval > 0 the Kafka calls run in a background thread every `interval` seconds and a scrape
    serves the last result: while a broker is down those calls can take longer than Prometheus waits,
    and a timed-out scrape would also drop the freshness metrics served on the same port."""

    def __init__(self, bootstrap: str, timeout: float = 5.0, exclude_topics: Iterable[str] = (),
                 interval: float = 0, client_config: Optional[dict[str, str]] = None,
                 group_pattern: str = ".*", max_group_clients: int = 16) -> None:
        # Metadata refreshed every few seconds: after a broker dies, librdkafka would otherwise keep
        # asking it for its old partitions (and the group coordinator it hosted) until an error makes it
        # look again, and the lag of those partitions froze for the whole outage.
        self._conf = {**(client_config or {}), "bootstrap.servers": bootstrap, "socket.timeout.ms": int(timeout * 1000),
                      "topic.metadata.refresh.interval.ms": max(int(timeout * 1000), 1000)}
        self._timeout = timeout
        self._exclude = set(exclude_topics)
        self._admin = AdminClient(dict(self._conf))
        self._meta = Consumer({**self._conf, "group.id": "rastro-exporter-metadata", "enable.auto.commit": False})
        # One consumer per group reads its committed offsets; at most max_group_clients are kept open
        # (least recently used closed first), and only groups matching group_pattern are reported.
        self._group_consumers: OrderedDict[str, Consumer] = OrderedDict()
        self._group_pattern = re.compile(group_pattern)
        self._max_group_clients = max(1, max_group_clients)
        self._pool = ThreadPoolExecutor(PARALLEL_QUERIES, thread_name_prefix="lag-query")
        self._last_error: Optional[str] = None
        self._known_groups: Optional[list[tuple[str, int]]] = None
        self._interval = interval
        self._cached: list[GaugeMetricFamily] = []
        self._cached_at = 0.0
        self._lock = threading.Lock()
        if interval > 0:
            threading.Thread(target=self._refresh_forever, name="lag-refresh", daemon=True).start()

    @property
    def last_error(self) -> Optional[str]:
        return self._last_error

    @last_error.setter
    def last_error(self, error: Optional[str]) -> None:
        """Logged when it changes, so the journal tells why rastro_exporter_lag_up went to 0 and when
        it came back, without a line per refresh."""
        if error != self._last_error:
            if error:
                log.warning("lag scrape: %s", error)
            else:
                log.info("lag scrape: every partition answers again")
        self._last_error = error

    def _refresh_forever(self) -> None:
        while True:
            started = time.monotonic()
            try:
                families = list(self._scrape())
            except Exception as exc:  # noqa: BLE001 — the thread must outlive any one bad refresh
                self.last_error = f"{type(exc).__name__}: {exc}"
                families = []
            with self._lock:
                self._cached, self._cached_at = families, time.monotonic()
            time.sleep(max(self._interval - (time.monotonic() - started), 0.5))

    def _group_consumer(self, group: str) -> Consumer:
        if group in self._group_consumers:
            self._group_consumers.move_to_end(group)
            return self._group_consumers[group]
        while len(self._group_consumers) >= self._max_group_clients:
            _, oldest = self._group_consumers.popitem(last=False)
            oldest.close()
        consumer = Consumer({**self._conf, "group.id": group, "enable.auto.commit": False})
        self._group_consumers[group] = consumer
        return consumer

    def _partitions(self) -> list[TopicPartition]:
        md = self._meta.list_topics(timeout=self._timeout)
        return [TopicPartition(t, p) for t, tm in sorted(md.topics.items())
                if not t.startswith("__") and t not in self._exclude and tm.error is None
                for p in sorted(tm.partitions)]

    def _log_ends(self, partitions: list[TopicPartition]
                  ) -> tuple[dict[tuple[str, int], int], dict[tuple[str, int], int], int]:
        """Watermarks of every partition that answers, and how many did not (a partition whose leader is
        down must not hide the others). A partition whose leader just moved answers NOT_LEADER until
        librdkafka has refreshed its metadata, and a topic deleted since the listing answers
        UNKNOWN_TOPIC_OR_PART: both are asked once more after RETRY_PAUSE; a topic still unknown then
        is gone, not unanswered. A timeout is not retried (the leader is down: retrying only doubles
        the wait)."""
        low: dict[tuple[str, int], int] = {}
        high: dict[tuple[str, int], int] = {}
        failed = 0
        retry: list[TopicPartition] = []

        def ask(tp: TopicPartition) -> tuple[TopicPartition, Optional[tuple[int, int]], Optional[int]]:
            try:
                return tp, self._meta.get_watermark_offsets(tp, timeout=self._timeout, cached=False), None
            except KafkaException as exc:
                return tp, None, exc.args[0].code() if exc.args else None

        for attempt, todo in enumerate((partitions, retry)):
            if attempt and todo:
                time.sleep(RETRY_PAUSE)
            answers = list(self._pool.map(ask, list(todo)))
            for tp, marks, code in answers:
                if marks is None:
                    if attempt == 0 and code in RETRIED_ERRORS:
                        retry.append(tp)
                    elif code != KafkaError.UNKNOWN_TOPIC_OR_PART:
                        failed += 1
                    continue
                low[(tp.topic, tp.partition)] = marks[0]
                high[(tp.topic, tp.partition)] = marks[1]
        return low, high, failed

    def _groups(self) -> tuple[list[tuple[str, int]], Optional[str]]:
        """(group, members) to report, and why the list is the last one known if it is. Listing asks
        every broker: with one down the answer is partial (or a transport failure), and the groups
        known from the last full answer are reported instead of none (their lag froze for the whole
        outage before)."""
        try:
            groups = self._admin.list_groups(timeout=self._timeout)
        except KafkaException as exc:
            if self._known_groups is None:
                raise
            return self._known_groups, f"groups as last listed ({exc.args[0].str() if exc.args else exc})"
        self._known_groups = sorted((g.id, len(g.members)) for g in groups
                                    if g.protocol_type not in SKIPPED_PROTOCOL_TYPES and self._group_pattern.fullmatch(g.id))
        return self._known_groups, None

    def collect(self) -> Iterator[GaugeMetricFamily]:
        if self._interval <= 0:
            yield from self._scrape()
            return
        with self._lock:
            families, at = self._cached, self._cached_at
        age = time.monotonic() - at if at else float("inf")
        # A result older than a few refreshes (a refresh stuck or failing) is not the current lag:
        # then only up=0 and the age are served.
        if age <= 3 * self._interval + self._timeout and families:
            yield from families
        elif at:
            yield _up(0)
        age_family = GaugeMetricFamily("rastro_exporter_lag_age_seconds", "Age of the lag figures served")
        age_family.add_metric([], age if at else -1)
        yield age_family

    def _scrape(self) -> Iterator[GaugeMetricFamily]:
        started = time.monotonic()
        duration = GaugeMetricFamily("rastro_exporter_lag_scrape_duration_seconds", "Time the lag scrape took")
        try:
            partitions = self._partitions()
            low, high, unanswered = self._log_ends(partitions)
            groups, stale_groups = self._groups()
            per_group: list[list[PartitionLag]] = []
            answered: list[tuple[str, int]] = []
            for group, n in groups:
                # A group whose coordinator is down for a moment must not hide the log end offsets
                # and the other groups: it is left out of this refresh and counted unanswered.
                try:
                    committed = self._group_consumer(group).committed(partitions, timeout=self._timeout)
                except KafkaException as exc:
                    unanswered += 1
                    log.debug("committed offsets of %s: %s", group, exc)
                    continue
                answered.append((group, n))
                per_group.append(lags({(tp.topic, tp.partition): tp.offset for tp in committed}, high, group))
            groups = answered
        except KafkaException as exc:
            self.last_error = str(exc)
            duration.add_metric([], time.monotonic() - started)
            yield _up(0)
            yield duration
            return
        problems = [f"{unanswered} partitions did not answer"] if unanswered else []
        self.last_error = "; ".join(problems + ([stale_groups] if stale_groups else [])) or None

        current = GaugeMetricFamily("kafka_topic_partition_current_offset", "Log end offset of a partition",
                                    labels=["topic", "partition"])
        oldest = GaugeMetricFamily("kafka_topic_partition_oldest_offset", "Log start offset of a partition",
                                   labels=["topic", "partition"])
        for (t, p), hi in sorted(high.items()):
            current.add_metric([t, str(p)], hi)
            oldest.add_metric([t, str(p)], low[(t, p)])
        members = GaugeMetricFamily("kafka_consumergroup_members", "Members of a consumer group",
                                    labels=["consumergroup"])
        offset = GaugeMetricFamily("kafka_consumergroup_current_offset", "Committed offset of a group on a partition",
                                   labels=["consumergroup", "topic", "partition"])
        lag = GaugeMetricFamily("kafka_consumergroup_lag", "Log end offset minus the group's committed offset",
                                labels=["consumergroup", "topic", "partition"])
        lag_sum = GaugeMetricFamily("kafka_consumergroup_lag_sum", "Lag of a group over all partitions of a topic",
                                    labels=["consumergroup", "topic"])
        for (group, n), group_lags in zip(groups, per_group):
            members.add_metric([group], n)
            sums: dict[str, int] = {}
            for pl in group_lags:
                offset.add_metric([group, pl.topic, str(pl.partition)], pl.committed)
                lag.add_metric([group, pl.topic, str(pl.partition)], pl.lag)
                sums[pl.topic] = sums.get(pl.topic, 0) + pl.lag
            for topic, total in sorted(sums.items()):
                lag_sum.add_metric([group, topic], total)
        duration.add_metric([], time.monotonic() - started)
        yield from (current, oldest, members, offset, lag, lag_sum, _up(0 if unanswered else 1), duration)
