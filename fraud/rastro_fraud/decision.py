"""One decision per transaction: the blocklists first (an immediate answer), then the model.

The same Decider runs in the decision service and in the offline replay that measures what each
fraud pattern costs (rastro_fraud.model.replay), so the figures describe the service's logic.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Any, Mapping, Optional

APPROVED, DENIED_BLOCKLIST, REVIEW = "APPROVED", "DENIED_BLOCKLIST", "REVIEW"
OUTCOMES = (APPROVED, DENIED_BLOCKLIST, REVIEW)
# Blocklist kinds and the transaction field each is keyed by.
BLOCKLISTS = {"card": "card_id", "user": "user_id", "site": "site_id"}


@dataclass
class Blocklists:
    """A complete local view of the three blocklists (the service fills it from the compacted topics)."""

    entries: dict[str, dict[str, dict[str, Any]]] = field(default_factory=lambda: {k: {} for k in BLOCKLISTS})

    def put(self, kind: str, key: str, entry: Optional[dict[str, Any]]) -> None:
        """Add or (entry None: a tombstone, a cancellation) remove one entry."""
        if entry is None:
            self.entries[kind].pop(key, None)
        else:
            self.entries[kind][key] = entry

    def hits(self, tx: Mapping[str, Any]) -> list[str]:
        """The reasons tx is blocked, e.g. ["card c-0000042 blocklisted: model score 0.97"]."""
        out = []
        for kind, fld in BLOCKLISTS.items():
            entry = self.entries[kind].get(tx[fld])
            if entry is not None:
                out.append(f"{kind} {tx[fld]} blocklisted: {entry.get('reason', 'no reason given')}")
        return out

    def sizes(self) -> dict[str, int]:
        return {k: len(v) for k, v in self.entries.items()}


@dataclass(frozen=True)
class Decision:
    transaction_id: str
    outcome: str
    reasons: tuple[str, ...]
    score: Optional[float]
    model_version: str

    def record(self, tx: Mapping[str, Any], decided_at: str) -> dict[str, Any]:
        return {"transaction_id": self.transaction_id, "card_id": tx["card_id"], "user_id": tx["user_id"],
                "site_id": tx["site_id"], "value": tx["value"], "transaction_timestamp": tx["timestamp"],
                "outcome": self.outcome, "reasons": list(self.reasons), "score": self.score,
                "model_version": self.model_version, "decided_at": decided_at}


@dataclass(frozen=True)
class BlocklistEntry:
    kind: str
    key: str
    reason: str
    transaction_id: str


class SiteRule:
    """A site where `cards` distinct cards were flagged within `window` seconds (of timestamp) is
    blocklisted: the compromised-site pattern, seen across every instance's suspicious transactions."""

    def __init__(self, cards: int = 3, window: float = 3600.0) -> None:
        self.cards = cards
        self.window = window
        self._flagged: dict[str, deque[tuple[float, str]]] = {}

    def flagged(self, site_id: str, card_id: str, at: float) -> bool:
        """Count one suspicious transaction; True when the site crosses the bound."""
        q = self._flagged.setdefault(site_id, deque())
        while q and q[0][0] < at - self.window:
            q.popleft()
        q.append((at, card_id))
        return len({c for _, c in q}) >= self.cards


class Decider:
    """decide(): a blocklisted card, user or site is denied; else the model's score (computed for a
    whole batch at once) against the threshold gives APPROVED or REVIEW. A REVIEW yields blocklist
    entries (its card always), which the caller adds before the next transaction is decided."""

    def __init__(self, blocklists: Blocklists, threshold: float, model_version: str) -> None:
        self.blocklists = blocklists
        self.threshold = threshold
        self.model_version = model_version

    def decide(self, tx: Mapping[str, Any], score: float) -> tuple[Decision, list[BlocklistEntry]]:
        hits = self.blocklists.hits(tx)
        if hits:
            return Decision(tx["transaction_id"], DENIED_BLOCKLIST, tuple(hits), None, self.model_version), []
        score = float(score)
        if score < self.threshold:
            return Decision(tx["transaction_id"], APPROVED, (), round(score, 6), self.model_version), []
        reason = f"model {self.model_version} score {score:.3f} >= {self.threshold:.3f}"
        entries = [BlocklistEntry("card", tx["card_id"], reason, tx["transaction_id"])]
        return Decision(tx["transaction_id"], REVIEW, (reason,), round(score, 6), self.model_version), entries
