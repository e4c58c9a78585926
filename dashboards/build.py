#!/usr/bin/python3
"""Builds rastro's Grafana dashboards (dashboards/*.json) from the panel lists below.

One source for six dashboards keeps their layout, datasource and style consistent; the JSON is
committed so Grafana provisioning needs nothing but the files. `build.py --check` fails when the
JSON is out of date (run by the unit tests). Every expression is also queried against the lab's
Prometheus by tests/integration/test_monitoring.py: a panel without data fails the tests."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
DATASOURCE = {"type": "prometheus", "uid": "rastro-prometheus"}
SINK_GROUP = 'consumergroup="connect-redis-sink"'

# (title, kind, [(expr, legend)], unit, width); kind is "stat" or "timeseries".
Panel = tuple[str, str, list[tuple[str, str]], str, int]

DASHBOARDS: dict[str, tuple[str, list[Panel]]] = {
    "kafka-cluster": ("rastro / Kafka cluster", [
        ("Kafka nodes up", "stat", [('sum(up{job="kafka"})', "up")], "none", 4),
        ("Active controllers", "stat", [("sum(kafka_controller_active_controller_count)", "active")], "none", 4),
        ("Under-replicated partitions", "stat", [("sum(kafka_server_under_replicated_partitions)", "URP")], "none", 4),
        ("Offline partitions", "stat", [("max(kafka_controller_offline_partitions)", "offline")], "none", 4),
        ("Under min ISR", "stat", [("sum(kafka_server_under_min_isr_partitions)", "under min ISR")], "none", 4),
        ("Fenced brokers", "stat", [("max(kafka_controller_fenced_brokers)", "fenced")], "none", 4),
        ("Nodes up", "timeseries", [('up{job="kafka"}', "{{instance}}")], "none", 12),
        ("KRaft role per node", "timeseries", [("kafka_raft_current_state", "{{instance}} {{state}}")], "none", 12),
        ("Under-replicated partitions per broker", "timeseries",
         [("kafka_server_under_replicated_partitions", "{{instance}}")], "none", 12),
        ("ISR shrinks and expands /s", "timeseries",
         [("sum by (instance) (rate(kafka_server_isr_shrinks_total[1m]))", "shrinks {{instance}}"),
          ("sum by (instance) (rate(kafka_server_isr_expands_total[1m]))", "expands {{instance}}")], "ops", 12),
        ("Bytes in and out /s", "timeseries",
         [("sum by (instance) (rate(kafka_server_bytesin_total[1m]))", "in {{instance}}"),
          ("sum by (instance) (rate(kafka_server_bytesout_total[1m]))", "out {{instance}}")], "Bps", 12),
        ("Messages in /s", "timeseries",
         [("sum by (instance) (rate(kafka_server_messagesin_total[1m]))", "{{instance}}")], "ops", 12),
        ("Produce and fetch p99 (ms)", "timeseries",
         [('kafka_network_request_total_time_ms{quantile="0.99"}', "{{request}} {{instance}}")], "ms", 12),
        ("Request handler and network idle ratio", "timeseries",
         [('kafka_server_request_handler_avg_idle_ratio{pool="Total"}', "handlers {{instance}}"),
          ("kafka_network_processor_avg_idle_ratio", "network {{instance}}")], "percentunit", 12),
        ("Partition leaders per broker", "timeseries",
         [("kafka_server_leader_partitions", "{{instance}}")], "none", 12),
        ("Failed produce and fetch requests /s", "timeseries",
         [("sum by (instance) (rate(kafka_server_failedproducerequests_total[1m]))", "produce {{instance}}"),
          ("sum by (instance) (rate(kafka_server_failedfetchrequests_total[1m]))", "fetch {{instance}}")], "ops", 12),
        # Balance (playbooks/rebalance.yml, add-broker.yml, remove-broker.yml).
        ("Replicas per broker", "timeseries", [("kafka_server_partitions", "{{instance}}")], "none", 12),
        ("Disk used by partitions per broker", "timeseries",
         [("sum by (instance) (kafka_log_size_bytes)", "{{instance}}")], "bytes", 12),
        ("Bytes per partition, driver-locations (largest replica)", "timeseries",
         [('max by (partition) (kafka_log_size_bytes{topic="driver-locations"})', "p{{partition}}")], "bytes", 12),
        ("Partition size skew: largest / mean, per topic", "timeseries",
         [("max by (topic) (kafka_log_size_bytes) / (avg by (topic) (kafka_log_size_bytes) > 0)", "{{topic}}")],
         "none", 12),
        ("Reassignment: partitions moving", "timeseries",
         [("sum(kafka_server_reassigning_partitions)", "moving")], "none", 12),
        ("Reassignment: bytes copied /s", "timeseries",
         [("sum by (instance) (rate(kafka_server_reassignmentbytesin_total[1m]))", "into {{instance}}")], "Bps", 12),
    ]),
    "connect-sink": ("rastro / Kafka Connect and the Redis sink", [
        ("Workers up", "stat", [('sum(up{job="connect"})', "workers")], "none", 6),
        ("Tasks running", "stat", [('sum(kafka_connect_task_status{status="running"})', "running")], "none", 6),
        ("Sink lag (records)", "stat", [(f"sum(kafka_consumergroup_lag_sum{{{SINK_GROUP}}})", "lag")], "none", 6),
        ("DLQ records (total)", "stat",
         [('sum(kafka_topic_partition_current_offset{topic="driver-locations-dlq"})', "DLQ")], "none", 6),
        ("Tasks by state", "timeseries",
         [("sum by (state) (kafka_connect_worker_connector_tasks{state!=\"total\"})", "{{state}}")], "none", 12),
        ("Connector and task status", "timeseries",
         [("kafka_connect_connector_status", "connector {{status}} on {{instance}}"),
          ("kafka_connect_task_status", "task {{task}} {{status}} on {{instance}}")], "none", 12),
        ("Sink records read and written /s", "timeseries",
         [("sum(rate(kafka_connect_sink_record_read_total[1m]))", "read"),
          ("sum(rate(kafka_connect_sink_record_send_total[1m]))", "written")], "ops", 12),
        ("Sink lag per partition", "timeseries",
         [(f"kafka_consumergroup_lag{{{SINK_GROUP}}}", "p{{partition}}")], "none", 12),
        ("Record errors and DLQ writes /s", "timeseries",
         [("sum(rate(kafka_connect_task_record_errors_total[1m]))", "errors"),
          ("sum(rate(kafka_connect_dlq_produce_requests_total[1m]))", "to DLQ"),
          ("sum(rate(kafka_connect_dlq_produce_failures_total[1m]))", "DLQ failures")], "ops", 12),
        ("put() batch time (ms)", "timeseries",
         [("max by (instance) (kafka_connect_sink_put_batch_avg_time_ms)", "avg {{instance}}"),
          ("max by (instance) (kafka_connect_sink_put_batch_max_time_ms)", "max {{instance}}")], "ms", 12),
    ]),
    "redis": ("rastro / Redis driver state", [
        ("Redis up", "stat", [("max(redis_up)", "up")], "none", 6),
        ("Driver keys", "stat", [("sum(rastro_driver_state_keys)", "drivers")], "none", 6),
        ("Expected drivers (producer)", "stat", [("sum(rastro_producer_drivers)", "expected")], "none", 6),
        ("Memory used", "stat", [("max(redis_memory_used_bytes)", "memory")], "bytes", 6),
        ("Driver keys against expected drivers", "timeseries",
         [("sum(rastro_driver_state_keys)", "driver:* hashes"),
          ("sum(rastro_driver_state_geo_members)", "geo members, every status"),
          ("sum(rastro_producer_drivers)", "expected (producer)")], "none", 12),
        ("Drivers by status (geo sets)", "timeseries",
         [("max by (status) (rastro_driver_state_geo_members)", "{{status}}")], "none", 12),
        ("Commands /s", "timeseries",
         [("sum by (cmd) (rate(redis_commands_total[1m]))", "{{cmd}}")], "ops", 12),
        ("Updates and tombstones the sink wrote /s", "timeseries",
         [("max(rate(rastro_driver_state_updates_applied_total[1m]))", "updates"),
          ("max(rate(rastro_driver_state_tombstones_applied_total[1m]))", "tombstones")], "ops", 12),
        ("Memory", "timeseries",
         [("redis_memory_used_bytes", "used"), ("redis_memory_max_bytes", "max")], "bytes", 12),
        ("Connected clients", "timeseries", [("redis_connected_clients", "clients")], "none", 12),
        ("Sentinels answering", "stat", [("sum(rastro_redis_sentinel_up)", "sentinels")], "none", 6),
        ("Replicas connected to the primary", "stat",
         [('sum(redis_connected_slaves and on (instance) redis_instance_info{role="master"})', "replicas")], "none", 6),
        ("Failovers (Sentinel epoch)", "stat", [("max(rastro_redis_sentinel_config_epoch)", "epoch")], "none", 6),
        ("Cache partitions replaying", "stat", [('max(rastro_cache_partitions{state="replaying"})', "replaying")],
         "none", 6),
        ("Primary, as each Sentinel names it", "timeseries",
         [("rastro_redis_primary_info", "{{sentinel}} → {{primary}}")], "none", 12),
        ("Replication lag (s)", "timeseries",
         [("max by (instance, slave_ip) (redis_connected_slave_lag_seconds)", "{{slave_ip}}")], "s", 12),
        ("Records left to replay", "timeseries",
         [("max(rastro_cache_replay_remaining_records)", "records")], "none", 12),
        ("Role of each server", "timeseries",
         [('max by (instance, role) (redis_instance_info)', "{{instance}} {{role}}")], "none", 12),
    ]),
    "pipeline": ("rastro / Pipeline", [
        ("Producer acknowledged /s", "stat",
         [("sum(rate(rastro_producer_messages_acknowledged_total[1m]))", "acks/s")], "ops", 6),
        ("Producer errors /s", "stat",
         [("sum(rate(rastro_producer_messages_failed_total[1m])) or vector(0)", "errors/s")], "ops", 6),
        ("Newest update age", "stat", [("max(rastro_driver_state_newest_update_age_seconds)", "age")], "s", 6),
        ("Sink lag", "stat", [(f"sum(kafka_consumergroup_lag_sum{{{SINK_GROUP}}})", "lag")], "none", 6),
        ("Producer sent, acknowledged and failed /s", "timeseries",
         [("sum(rate(rastro_producer_messages_sent_total[1m]))", "sent"),
          ("sum(rate(rastro_producer_messages_acknowledged_total[1m]))", "acknowledged"),
          ("sum(rate(rastro_producer_messages_failed_total[1m])) or vector(0)", "failed")], "ops", 12),
        ("Producer delivery latency p99", "timeseries",
         [("histogram_quantile(0.99, sum by (le) (rate(rastro_producer_delivery_latency_seconds_bucket[1m])))",
           "p99")], "s", 12),
        ("End-to-end freshness: newest update age in Redis", "timeseries",
         [("max(rastro_driver_state_newest_update_age_seconds)", "age")], "s", 12),
        ("Sink lag", "timeseries", [(f"sum(kafka_consumergroup_lag_sum{{{SINK_GROUP}}})", "lag")], "none", 12),
        ("Producer queue depth", "timeseries", [("sum(rastro_producer_queue_depth)", "queued")], "none", 12),
        ("Firing alerts", "timeseries",
         [('count by (alertname) (ALERTS{alertstate="firing"}) or vector(0)', "{{alertname}}")], "none", 12),
    ]),
    "dispatch-api": ("rastro / Dispatch API", [
        ("API hosts up", "stat", [('sum(up{job="dispatch-api"})', "up")], "none", 6),
        ("Requests /s", "stat", [("sum(rate(rastro_api_requests_total[1m]))", "req/s")], "reqps", 6),
        ("5xx share", "stat",
         [('(sum(rate(rastro_api_requests_total{code=~"5.."}[1m])) or vector(0)) '
           "/ clamp_min(sum(rate(rastro_api_requests_total[1m])), 1e-9)", "5xx")], "percentunit", 6),
        ("Redis errors /s", "stat", [("sum(rate(rastro_api_redis_errors_total[1m])) or vector(0)", "errors/s")], "ops", 6),
        ("Requests /s by route and code", "timeseries",
         [("sum by (route, code) (rate(rastro_api_requests_total[1m]))", "{{route}} {{code}}")], "reqps", 12),
        ("Latency p50 and p99 by route", "timeseries",
         [("histogram_quantile(0.5, sum by (route, le) (rate(rastro_api_request_duration_seconds_bucket[1m])))",
           "p50 {{route}}"),
          ("histogram_quantile(0.99, sum by (route, le) (rate(rastro_api_request_duration_seconds_bucket[1m])))",
           "p99 {{route}}")], "s", 12),
        ("Requests /s by host", "timeseries",
         [("sum by (instance) (rate(rastro_api_requests_total[1m]))", "{{instance}}")], "reqps", 12),
        ("Drivers by status (geo sets)", "timeseries",
         [("max by (status) (rastro_driver_state_geo_members)", "{{status}}")], "none", 12),
    ]),
    # Where playbooks/fraud.yml deployed the decision service (tests/fraud checks every panel).
    "fraud": ("rastro / Fraud scoring", [
        ("Decision instances up", "stat", [('sum(up{job="fraud"})', "up")], "none", 4),
        ("Decisions /s", "stat", [("sum(rate(rastro_fraud_decisions_total[1m]))", "decisions/s")], "ops", 4),
        ("Decision latency p90", "stat",
         [("histogram_quantile(0.9, sum by (le) (rate(rastro_fraud_decision_latency_seconds_bucket[5m])))", "p90")],
         "s", 4),
        ("Transactions waiting (lag)", "stat",
         [('sum(kafka_consumergroup_lag_sum{consumergroup="rastro-fraud", topic="card-transactions"})', "lag")],
         "none", 4),
        ("Model version", "stat", [("max by (version) (rastro_fraud_model_info)", "{{version}}")], "none", 4),
        ("Dead letters (5 min)", "stat", [("sum(increase(rastro_fraud_dead_letters_total[5m])) or vector(0)", "DLQ")],
         "none", 4),
        ("Decisions /s by outcome", "timeseries",
         [("sum by (outcome) (rate(rastro_fraud_decisions_total[1m]))", "{{outcome}}")], "ops", 12),
        ("Decision latency p50, p90, p99 (transaction timestamp to decision)", "timeseries",
         [(f"histogram_quantile({q}, sum by (le) (rate(rastro_fraud_decision_latency_seconds_bucket[1m])))", f"p{p}")
          for q, p in (("0.5", "50"), ("0.9", "90"), ("0.99", "99"))], "s", 12),
        ("Blocklist entries", "timeseries",
         [("max by (blocklist) (rastro_fraud_blocklist_entries)", "{{blocklist}}")], "none", 12),
        ("Model scores (share of transactions per score band)", "timeseries",
         [("sum by (le) (rate(rastro_fraud_score_bucket[5m])) / scalar(sum(rate(rastro_fraud_score_count[5m])))",
           "score <= {{le}}")], "percentunit", 12),
        ("Feedback applied /s by verdict", "timeseries",
         [("sum by (verdict) (rate(rastro_fraud_feedback_applied_total[5m])) or vector(0)", "{{verdict}}")], "ops", 12),
        ("Kafka transactions /s by result, by host", "timeseries",
         [("sum by (instance, result) (rate(rastro_fraud_kafka_transactions_total[1m]))", "{{instance}} {{result}}")],
         "ops", 12),
    ]),
}


def panel(pid: int, spec: Panel, x: int, y: int) -> dict[str, Any]:
    title, kind, exprs, unit, width = spec
    height = 4 if kind == "stat" else 8
    p: dict[str, Any] = {
        "id": pid, "title": title, "type": kind, "datasource": DATASOURCE,
        "gridPos": {"h": height, "w": width, "x": x, "y": y},
        "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
        "targets": [{"refId": chr(ord("A") + i), "datasource": DATASOURCE, "expr": e, "legendFormat": leg}
                    for i, (e, leg) in enumerate(exprs)],
    }
    if kind == "stat":
        p["options"] = {"reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
                        "colorMode": "value", "graphMode": "area"}
    else:
        p["options"] = {"legend": {"displayMode": "list", "placement": "bottom"}, "tooltip": {"mode": "multi"}}
    return p


def dashboard(uid: str, title: str, panels: list[Panel]) -> dict[str, Any]:
    out, x, y, row_h = [], 0, 0, 0
    for i, spec in enumerate(panels, 1):
        width = spec[4]
        if x + width > 24:
            x, y, row_h = 0, y + row_h, 0
        p = panel(i, spec, x, y)
        out.append(p)
        x += width
        row_h = max(row_h, p["gridPos"]["h"])
    return {"uid": f"rastro-{uid}", "title": title, "tags": ["rastro"], "timezone": "utc",
            "schemaVersion": 39, "version": 1, "editable": False, "refresh": "10s",
            "time": {"from": "now-30m", "to": "now"}, "panels": out}


def render() -> dict[str, str]:
    return {f"{uid}.json": json.dumps(dashboard(uid, title, panels), indent=2) + "\n"
            for uid, (title, panels) in DASHBOARDS.items()}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--check", action="store_true", help="fail if a committed dashboard differs from its source")
    args = ap.parse_args()
    stale = []
    for name, text in render().items():
        path = HERE / name
        if args.check:
            if not path.exists() or path.read_text() != text:
                stale.append(name)
        else:
            path.write_text(text)
            print(f"wrote dashboards/{name}")
    if stale:
        print(f"out of date: {', '.join(stale)}; run dashboards/build.py", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
