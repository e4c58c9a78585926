"""The chaos run's timeline as a PNG: what Prometheus saw (nodes up, under-replicated partitions,
sink lag, Redis freshness, producer errors) and what the verifier's producer got acknowledged, with
the fault window shaded."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib
from rastro_producer.monitoring import Monitoring

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

PANELS = [
    ("Kafka nodes up", 'sum(up{job="kafka"})'),
    ("Under-replicated partitions", "sum(kafka_server_under_replicated_partitions)"),
    ("Sink lag (records)", 'sum(kafka_consumergroup_lag_sum{consumergroup="connect-redis-sink"})'),
    ("Newest update age in Redis (s)", "max(rastro_driver_state_newest_update_age_seconds)"),
    ("Producer service errors /s", "sum(rate(rastro_producer_messages_failed_total[30s])) or vector(0)"),
]


def query_range(mon: Monitoring, expr: str, start: float, end: float, step: float = 2.0) -> list[tuple[float, float]]:
    try:
        result = mon.prometheus("query_range", timeout=20, query=expr, start=start, end=end, step=step)["result"]
    except (OSError, RuntimeError):
        return []
    return [(float(t), float(v)) for t, v in result[0]["values"]] if result else []


def active_controller(mon: Monitoring, at: float) -> str | None:
    """The instance that was the active KRaft controller at `at` (scraped just before), if known."""
    try:
        result = mon.prometheus("query", timeout=20, query="max_over_time(kafka_controller_active_controller_count[15s]) == 1",
                                time=at)["result"]
    except (OSError, RuntimeError):
        return None
    return result[0]["metric"].get("instance") if len(result) == 1 else None


def draw(mon: Monitoring, report: dict[str, Any], acks_per_s: list[tuple[int, int]], out: Path) -> None:
    start = report["started"] - 20
    end = max(report["produced_until"], (report.get("restored") or 0)) + 40
    fig, axes = plt.subplots(len(PANELS) + 1, 1, figsize=(11, 13), sharex=True)
    rel = lambda t: t - report["started"]  # noqa: E731 — seconds since production started
    ax = axes[0]
    ax.plot([rel(t) for t, _ in acks_per_s], [n for _, n in acks_per_s], color="tab:green", lw=1)
    ax.set_title(f"Verifier: acknowledged updates /s (target {report['rate']:.0f}/s, acks=all)", fontsize=10)
    for ax, (title, expr) in zip(axes[1:], PANELS):
        pts = query_range(mon, expr, start, end)
        ax.plot([rel(t) for t, _ in pts], [v for _, v in pts], color="tab:blue", lw=1.2, drawstyle="steps-post")
        ax.set_title(title + ("" if pts else " — no data"), fontsize=10)
    for ax in axes:
        if report.get("injected"):
            ax.axvspan(rel(report["injected"]), rel(report.get("restored") or end), color="tab:red", alpha=0.12)
        ax.grid(alpha=0.3)
        ax.set_ylim(bottom=0)
    axes[-1].set_xlabel("seconds since the verifier started producing (red: fault window)")
    fig.suptitle(f"chaos: fault={report['fault']} target={report['target']} — lost {report['lost']}, "
                 f"unavailability {report['unavailability_window_s']} s, "
                 f"URP→0 {report['urp_zero_after_restore_s']} s after restore", fontsize=11)
    fig.tight_layout()
    fig.savefig(out, dpi=90)
    plt.close(fig)
