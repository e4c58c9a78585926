"""The model's features, computed online from what came before each transaction.

Training and the decision service use this one class, so a model sees at serving time exactly what
it was trained on. State is per card (the transactions topic is keyed by card: one instance sees all
of a card's transactions, in order) and per site (each instance sees its share of a site's traffic;
the site features are ratios, so the share does not matter).
"""

from __future__ import annotations

import math
from collections import deque
from typing import Any, Mapping, Optional

from rastro_fraud.contract import epoch
from rastro_fraud.generator import CATEGORIES, CITY, distance_km

NAMES = (
    "log_value", "value_ratio", "value_max_ratio", "card_seen", "card_tx_10m", "card_tx_1h", "card_value_10m_ratio",
    "card_sites_10m", "minutes_since_prev", "speed_kmh", "country_changed", "foreign", "site_new_for_card",
    "site_category", "site_online", "site_burst", "site_new_cards_share",
)
CATEGORY_CODE = {c: i for i, c in enumerate(CATEGORIES)}
NAN = float("nan")
# Windows in real seconds (divided by the time scale on the timestamps).
SHORT, LONG = 600.0, 3600.0
_RECENT_SITES = 20


class _Card:
    __slots__ = ("recent", "mean", "max", "seen", "last_at", "last_location", "last_country", "countries", "sites")

    def __init__(self) -> None:
        self.recent: deque[tuple[float, float, str]] = deque()
        self.mean = 0.0
        self.max = 0.0
        self.seen = 0
        self.last_at = NAN
        self.last_location = ""
        self.last_country = ""
        self.countries: dict[str, int] = {}
        self.sites: deque[str] = deque(maxlen=_RECENT_SITES)


class _Site:
    __slots__ = ("recent", "first_at", "seen")

    def __init__(self, at: float) -> None:
        self.recent: deque[tuple[float, bool]] = deque()
        self.first_at = at
        self.seen = 0


class Features:
    """Feature vectors for a stream of transactions. ``sites`` maps site_id to its reference record
    (category, online); an unknown site gets neither."""

    def __init__(self, sites: Mapping[str, Mapping[str, Any]], time_scale: float = 1.0) -> None:
        self.sites = sites
        self.time_scale = time_scale
        self._short = SHORT / time_scale
        self._long = LONG / time_scale
        self._cards: dict[str, _Card] = {}
        self._site_state: dict[str, _Site] = {}

    def __len__(self) -> int:
        return len(self._cards)

    def vector(self, tx: Mapping[str, Any], at: Optional[float] = None) -> list[float]:
        """The features of tx given everything before it, then tx added to the state."""
        at = epoch(tx["timestamp"]) if at is None else at
        card = self._cards.get(tx["card_id"])
        if card is None:
            card = self._cards[tx["card_id"]] = _Card()
        while card.recent and card.recent[0][0] < at - self._long:
            card.recent.popleft()
        value = float(tx["value"])
        short = [(t, v, s) for t, v, s in card.recent if t >= at - self._short]
        minutes = (at - card.last_at) * self.time_scale / 60.0 if card.seen else NAN
        if card.seen and tx["location_id"] in CITY and card.last_location in CITY:
            hours = max(minutes / 60.0, 1 / 60.0)
            speed = distance_km(card.last_location, tx["location_id"]) / hours
        else:
            speed = NAN
        home = max(card.countries, key=card.countries.__getitem__) if card.countries else ""
        new_for_card = tx["site_id"] not in card.sites

        site_ref = self.sites.get(tx["site_id"], {})
        site = self._site_state.get(tx["site_id"])
        if site is None:
            site = self._site_state[tx["site_id"]] = _Site(at)
        while site.recent and site.recent[0][0] < at - self._short:
            site.recent.popleft()
        # The site's rate now against its average so far (both in its share of the traffic).
        lifetime = max(at - site.first_at, self._long)
        average_short = site.seen * self._short / lifetime
        burst = (len(site.recent) + 1) / (average_short + 1)
        new_share = (sum(1 for _, new in site.recent if new) / len(site.recent)) if site.recent else NAN

        vec = [
            math.log1p(value),
            value / card.mean if card.seen else NAN,
            value / card.max if card.seen else NAN,
            float(min(card.seen, 50)),
            float(len(short)),
            float(len(card.recent)),
            sum(v for _, v, _ in short) / card.mean if card.seen and card.mean > 0 else NAN,
            float(len({s for _, _, s in short})),
            min(minutes, 60 * 24 * 30.0),
            min(speed, 20_000.0),
            float(card.seen > 0 and tx["country"] != card.last_country),
            float(bool(home) and tx["country"] != home),
            float(new_for_card),
            float(CATEGORY_CODE.get(site_ref.get("category", ""), -1)),
            float(bool(site_ref.get("online", False))),
            burst,
            new_share,
        ]

        card.recent.append((at, value, tx["site_id"]))
        card.mean = value if not card.seen else card.mean + (value - card.mean) / min(card.seen + 1, 20)
        card.max = max(card.max, value)
        card.seen += 1
        card.last_at, card.last_location, card.last_country = at, tx["location_id"], tx["country"]
        card.countries[tx["country"]] = card.countries.get(tx["country"], 0) + 1
        if new_for_card:
            card.sites.append(tx["site_id"])
        site.recent.append((at, new_for_card))
        site.seen += 1
        return vec

    def forget_card(self, card_id: str) -> None:
        """Drop a card's state (its partition moved to another instance)."""
        self._cards.pop(card_id, None)
