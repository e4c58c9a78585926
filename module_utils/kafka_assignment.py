# -*- coding: utf-8 -*-
# Copyright: rastro contributors; Apache-2.0
"""Partition placement for rastro's modules: read `kafka-topics --describe`, plan a reassignment that
spreads replicas and preferred leaders evenly over a set of brokers while moving as few replicas as
possible, and check that taking brokers out leaves every partition writable.

Pure functions, no I/O: kafka_reassignment and kafka_preferred_leaders run the tools around them."""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Iterable, Optional

TopicPartition = tuple[str, int]
Assignment = dict[TopicPartition, list[int]]


class PlacementError(Exception):
    """A placement that cannot be reached safely; the message names the partition or broker."""


@dataclass
class PartitionState:
    topic: str
    partition: int
    leader: Optional[int]
    replicas: list[int]
    isr: list[int]


@dataclass
class ClusterState:
    partitions: dict[TopicPartition, PartitionState] = field(default_factory=dict)
    min_insync: dict[str, int] = field(default_factory=dict)  # topics that set their own

    def assignment(self) -> Assignment:
        return {tp: list(p.replicas) for tp, p in self.partitions.items()}


_PART = re.compile(r"Topic:\s*(?P<topic>\S+)\s+Partition:\s*(?P<partition>\d+)\s+Leader:\s*(?P<leader>\S+)\s+"
                   r"Replicas:\s*(?P<replicas>[\d,]*)\s+Isr:\s*(?P<isr>[\d,]*)")
_TOPIC = re.compile(r"^Topic:\s*(?P<topic>\S+)\s+TopicId:.*?Configs:\s*(?P<configs>\S*)")


def _ids(text: str) -> list[int]:
    return [int(x) for x in text.split(",") if x.strip()]


def parse_describe(text: str) -> ClusterState:
    """The state of every partition from `kafka-topics --describe` (all topics)."""
    state = ClusterState()
    for line in text.splitlines():
        m = _TOPIC.match(line.strip())
        if m:
            for item in m.group("configs").split(","):
                key, _, value = item.partition("=")
                if key == "min.insync.replicas" and value.isdigit():
                    state.min_insync[m.group("topic")] = int(value)
            continue
        m = _PART.search(line)
        if m:
            leader = m.group("leader")
            tp = (m.group("topic"), int(m.group("partition")))
            state.partitions[tp] = PartitionState(
                tp[0], tp[1], int(leader) if leader.lstrip("-").isdigit() and int(leader) >= 0 else None,
                _ids(m.group("replicas")), _ids(m.group("isr")))
    return state


def check_removal(state: ClusterState, keep: Iterable[int], default_min_insync: int) -> None:
    """Refuse to take brokers out (every broker not in `keep`) while that would leave a partition with
    fewer in-sync replicas than its min.insync.replicas, or with fewer brokers than its replicas."""
    keep = set(keep)
    problems = []
    for (topic, partition), p in sorted(state.partitions.items()):
        leaving = [b for b in p.replicas if b not in keep]
        if not leaving:
            continue
        if len(p.replicas) > len(keep):
            problems.append(f"{topic}-{partition} has {len(p.replicas)} replicas but only {len(keep)} brokers would remain")
            continue
        needed = state.min_insync.get(topic, default_min_insync)
        remaining = [b for b in p.isr if b in keep]
        if len(remaining) < needed:
            problems.append(f"{topic}-{partition}: in-sync replicas {p.isr}, without broker(s) {leaving} "
                            f"{len(remaining)} < min.insync.replicas={needed}")
    if problems:
        shown = "; ".join(problems[:10]) + (f"; and {len(problems) - 10} more" if len(problems) > 10 else "")
        raise PlacementError(f"refused: taking out broker(s) {sorted(set(b for p in state.partitions.values() for b in p.replicas) - keep)} "
                             f"would leave partitions under min.insync.replicas: {shown}")


def _least_loaded(candidates: Iterable[int], local: Counter, overall: Counter) -> int:
    return min(candidates, key=lambda b: (local[b], overall[b], b))


def plan_placement(current: Assignment, brokers: Iterable[int]) -> Assignment:
    """A new assignment over `brokers` that moves as few replicas as possible.

    1. Replicas on a broker not in `brokers` move to the least-loaded broker that lacks one.
    2. Per topic, replicas move from the most- to the least-loaded broker until the counts differ by
       at most one (each move lowers the spread, so none is wasted); ties go to the broker with the
       fewest replicas overall.
    3. Per topic, the preferred leader (first replica) is rotated within a partition's own replicas
       until leader counts differ by at most one where possible: an order change moves no data.
    Returns only the partitions whose replica list changes."""
    targets = sorted(set(brokers))
    if not targets:
        raise PlacementError("brokers: the list of brokers to place replicas on is empty")
    new: Assignment = {tp: list(r) for tp, r in current.items()}
    for (topic, partition), replicas in sorted(new.items()):
        if len(replicas) > len(targets):
            raise PlacementError(f"{topic}-{partition} has {len(replicas)} replicas but brokers lists only {targets}")
    overall = Counter(b for r in new.values() for b in r if b in targets)
    topics = sorted({t for t, _ in new})
    for topic in topics:
        parts = sorted(tp for tp in new if tp[0] == topic)
        local = Counter({b: 0 for b in targets})
        local.update(b for tp in parts for b in new[tp] if b in targets)
        # 1. evacuate
        for tp in parts:
            for i, b in enumerate(new[tp]):
                if b not in targets:
                    dest = _least_loaded([t for t in targets if t not in new[tp]], local, overall)
                    new[tp][i] = dest
                    local[dest] += 1
                    overall[dest] += 1
        # 2. balance replicas
        while True:
            hi = max(targets, key=lambda b: (local[b], overall[b], -b))
            lo = _least_loaded(targets, local, overall)
            if local[hi] - local[lo] <= 1:
                break
            # Prefer moving a follower (the leader stays put), then the lowest partition.
            movable = [tp for tp in parts if hi in new[tp] and lo not in new[tp]]
            tp = min(movable, key=lambda x: (new[x].index(hi) == 0, x[1]))
            new[tp][new[tp].index(hi)] = lo
            local[hi] -= 1
            local[lo] += 1
            overall[hi] -= 1
            overall[lo] += 1
        # 3. balance preferred leaders
        leaders = Counter({b: 0 for b in targets})
        leaders.update(new[tp][0] for tp in parts if new[tp])
        for _ in range(len(parts) * len(targets)):
            gaps = [(leaders[new[tp][0]] - leaders[b], tp, b) for tp in parts if new[tp] for b in new[tp][1:]]
            gap, tp, lo = max(gaps, key=lambda g: (g[0], -g[1][1], -g[2]), default=(0, None, None))
            if gap <= 1:
                break
            hi = new[tp][0]
            j = new[tp].index(lo)
            new[tp][0], new[tp][j] = lo, hi
            leaders[hi] -= 1
            leaders[lo] += 1
    return {tp: r for tp, r in new.items() if r != current[tp]}


def moved_replicas(current: Assignment, plan: Assignment) -> int:
    """Replicas that change broker (an order change alone moves no data)."""
    return sum(len(set(r) - set(current[tp])) for tp, r in plan.items())


def to_json(plan: Assignment) -> dict:
    """The plan in kafka-reassign-partitions' reassignment file format."""
    return {"version": 1, "partitions": [
        {"topic": t, "partition": p, "replicas": r, "log_dirs": ["any"] * len(r)} for (t, p), r in sorted(plan.items())]}


def not_preferred(state: ClusterState) -> list[TopicPartition]:
    """Partitions led by another replica than their preferred one while the preferred one is in sync."""
    return sorted(tp for tp, p in state.partitions.items()
                  if p.replicas and p.leader != p.replicas[0] and p.replicas[0] in p.isr)


def per_broker(state: ClusterState) -> dict[int, dict[str, int]]:
    """Replicas and leaders per broker."""
    out: dict[int, dict[str, int]] = {}
    for p in state.partitions.values():
        for b in p.replicas:
            out.setdefault(b, {"replicas": 0, "leaders": 0})["replicas"] += 1
        if p.leader is not None:
            out.setdefault(p.leader, {"replicas": 0, "leaders": 0})["leaders"] += 1
    return dict(sorted(out.items()))
