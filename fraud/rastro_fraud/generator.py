"""A seeded card-transaction world: users, cards, sites and a labelled stream of transactions.

Deterministic: the same seed and settings give the same world and the same transactions. Genuine
customers shop mostly near home, at their own pace, around their own typical amount, and sometimes
travel (never faster than a plane). Four fraud scenarios, after the ones documented in the
literature (see docs/fraud.md):

- ``compromised_card``: card testing then a spending spree — one or two tiny online charges, then
  several large ones within minutes, from wherever the fraudster is (the "compromised customers"
  scenario of Le Borgne et al.'s simulator, with the velocity pattern of card testing);
- ``compromised_site``: a merchant (an online shop taken over, or a terminal used for cash-out)
  charges many cards that never shopped there, for similar amounts, in a burst (their
  "compromised terminals" scenario);
- ``large_value``: one purchase far above what the card ever spends (their "amount" scenario);
- ``impossible_travel``: a cloned card used in person in another country minutes after the genuine
  card was used at home (geo-velocity).

``time_scale`` compresses time: with 100, a simulated day passes in 864 s. The live stream uses it to
reach thousands of transactions per second with a world that fits in memory; the features read the
same scale from the model, so a model is trained on history of the scale it will see.
"""

from __future__ import annotations

import heapq
import math
import random
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Iterator, Optional

from rastro_fraud.contract import format_timestamp

DAY = 86_400.0
# Cities: location_id, country, latitude, longitude.
CITIES = [
    ("PT-LIS", "PT", 38.72, -9.14), ("PT-OPO", "PT", 41.15, -8.61), ("ES-MAD", "ES", 40.42, -3.70),
    ("ES-BCN", "ES", 41.39, 2.17), ("FR-PAR", "FR", 48.86, 2.35), ("FR-LYS", "FR", 45.76, 4.84),
    ("DE-BER", "DE", 52.52, 13.40), ("DE-MUC", "DE", 48.14, 11.58), ("GB-LON", "GB", 51.51, -0.13),
    ("GB-MAN", "GB", 53.48, -2.24), ("IT-ROM", "IT", 41.90, 12.50), ("IT-MIL", "IT", 45.46, 9.19),
    ("NL-AMS", "NL", 52.37, 4.90), ("US-NYC", "US", 40.71, -74.01), ("US-LAX", "US", 34.05, -118.24),
    ("BR-SAO", "BR", -23.55, -46.63), ("JP-TYO", "JP", 35.68, 139.69), ("NG-LOS", "NG", 6.52, 3.38),
    ("IN-BOM", "IN", 19.08, 72.88), ("RU-MOW", "RU", 55.76, 37.62),
]
CITY = {c[0]: c for c in CITIES}
# Where the customers live (the rest are where fraudsters and travellers go too).
HOME_CITIES = [c[0] for c in CITIES[:13]]
FRAUDSTER_CITIES = ["NG-LOS", "RU-MOW", "BR-SAO", "IN-BOM", "US-LAX"]
# category: (share of sites, amount multiplier, share of online sites)
CATEGORIES = {
    "groceries": (0.25, 0.8, 0.1), "restaurants": (0.20, 0.9, 0.0), "consumer goods": (0.20, 1.2, 0.4),
    "fuel": (0.10, 1.0, 0.0), "electronics": (0.08, 3.0, 0.6), "travel": (0.07, 4.0, 0.8),
    "jewellery": (0.03, 5.0, 0.3), "gift cards": (0.07, 1.5, 0.9),
}
# The categories fraudsters cash out through.
CASH_OUT = ["electronics", "gift cards", "travel", "jewellery"]
# What a labelled transaction carries besides the contract's fields.
LABELS = ("fraud", "pattern", "incident")
PATTERNS = ("compromised_card", "compromised_site", "large_value", "impossible_travel")
_SYLLABLES = ["ana", "bel", "car", "dor", "el", "fi", "gus", "hel", "ina", "jo", "ka", "lu", "mar", "no", "ri", "sa", "te", "vi"]
_STREETS = ["Rua", "Calle", "Rue", "Strasse", "Street", "Via", "Straat"]


def distance_km(a: str, b: str) -> float:
    """Great-circle distance between two cities of CITIES."""
    _, _, lat1, lon1 = CITY[a]
    _, _, lat2, lon2 = CITY[b]
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * 6371.0 * math.asin(min(1.0, math.sqrt(h)))


def _flight_hours(a: str, b: str) -> float:
    return distance_km(a, b) / 800.0 + 2.0


@dataclass
class Card:
    card_id: str
    user_id: str
    home: str
    typical: float  # the card's usual amount
    per_day: float  # transactions per day
    favourites: list[str] = field(default_factory=list)
    city: str = ""  # where the card holder is now
    away_until: float = 0.0
    last_at: float = 0.0


@dataclass(frozen=True)
class Site:
    site_id: str
    name: str
    address: str
    category: str
    city: str
    online: bool


@dataclass(frozen=True)
class User:
    user_id: str
    name: str
    address: str
    email: str
    home: str


@dataclass
class Settings:
    users: int = 5_000
    sites: int = 1_500
    cards_per_user: float = 1.4
    per_day: float = 2.5  # a card's mean transactions per day
    # Incidents per simulated day, per 1,000 cards.
    compromised_cards: float = 0.6
    compromised_sites: float = 0.1
    large_values: float = 0.5
    impossible_travels: float = 0.4
    travel_per_day: float = 0.01  # a holder's chance per day to start a trip
    time_scale: float = 1.0


class World:
    """Users, cards and sites of one seed, and the transactions they make."""

    def __init__(self, seed: int = 7, settings: Optional[Settings] = None,
                 start: datetime = datetime(2026, 11, 1, tzinfo=timezone.utc)) -> None:
        self.seed = seed
        self.settings = settings or Settings()
        self.start = start.timestamp()
        rng = random.Random(seed)
        s = self.settings
        self.users = [self._user(rng, i) for i in range(s.users)]
        self.sites = [self._site(rng, i) for i in range(s.sites)]
        local: dict[str, list[Site]] = {}
        for site in self.sites:
            if not site.online:
                local.setdefault(site.city, []).append(site)
        self._local = local
        self._online = [site for site in self.sites if site.online]
        self._by_category: dict[str, list[Site]] = {}
        for site in self._online:
            self._by_category.setdefault(site.category, []).append(site)
        self.cards: list[Card] = []
        for user in self.users:
            for _ in range(1 + (rng.random() < s.cards_per_user - 1)):
                card = Card(f"c-{len(self.cards):07d}", user.user_id, user.home,
                            typical=round(math.exp(rng.gauss(math.log(35), 0.6)), 2),
                            per_day=s.per_day * rng.uniform(0.3, 1.7), city=user.home)
                shops = local.get(user.home, []) or self.sites
                card.favourites = [rng.choice(shops).site_id for _ in range(8)] + [rng.choice(self._online).site_id for _ in range(3)]
                self.cards.append(card)
        self._site = {site.site_id: site for site in self.sites}

    # -- reference data ------------------------------------------------------------------------
    def _name(self, rng: random.Random, parts: int) -> str:
        return "".join(rng.choice(_SYLLABLES) for _ in range(parts)).capitalize()

    def _user(self, rng: random.Random, i: int) -> User:
        first, last = self._name(rng, 2), self._name(rng, 3)
        home = rng.choice(HOME_CITIES)
        return User(f"u-{i:06d}", f"{first} {last}", f"{rng.choice(_STREETS)} {self._name(rng, 2)} {rng.randint(1, 200)}, {home}",
                    f"{first.lower()}.{last.lower()}{i}@example.org", home)

    def _site(self, rng: random.Random, i: int) -> Site:
        names, weights = zip(*((c, v[0]) for c, v in CATEGORIES.items()))
        category = rng.choices(names, weights)[0]
        online = rng.random() < CATEGORIES[category][2]
        # Shops are mostly where the customers live; every city has some (travellers and clones use them).
        city = rng.choice([c[0] for c in CITIES]) if online or rng.random() < 0.15 else rng.choice(HOME_CITIES)
        name = f"{self._name(rng, 2)} {category.title()}"
        return Site(f"s-{i:05d}", name, f"{rng.choice(_STREETS)} {self._name(rng, 2)} {rng.randint(1, 200)}, {city}",
                    category, city, online)

    def reference(self) -> Iterator[tuple[str, dict[str, Any]]]:
        """("users" | "sites" | "cards", record) for the reference topics."""
        for u in self.users:
            yield "users", {"user_id": u.user_id, "name": u.name, "address": u.address, "email": u.email}
        for s in self.sites:
            yield "sites", {"site_id": s.site_id, "name": s.name, "address": s.address, "category": s.category,
                            "country": CITY[s.city][1], "online": s.online}
        for c in self.cards:
            yield "cards", {"card_id": c.card_id, "user_id": c.user_id, "country": CITY[c.home][1]}

    def site(self, site_id: str) -> Site:
        return self._site[site_id]

    # -- transactions --------------------------------------------------------------------------
    def transactions(self, days: Optional[float] = None, seed_offset: int = 0,
                     after_days: float = 0.0) -> Iterator[dict[str, Any]]:
        """Labelled transactions in timestamp order, each the contract's fields plus ``fraud`` (bool),
        ``pattern`` (a PATTERNS name, or None) and ``incident`` (which one, or None). ``days`` simulated days (None: without end).
        ``seed_offset`` gives another run over the same world (a held-out period); ``after_days`` starts
        it that many simulated days after the world's start (a period that follows another)."""
        s = self.settings
        rng = random.Random(self.seed * 1_000_003 + 17 + seed_offset)
        scale = s.time_scale
        day = DAY / scale
        t0 = self.start + after_days * day
        end = t0 + days * day if days is not None else math.inf
        heap: list[tuple[float, int, str, Any]] = []
        seq = 0

        def push(at: float, kind: str, payload: Any) -> None:
            nonlocal seq
            seq += 1
            heapq.heappush(heap, (at, seq, kind, payload))

        for i, card in enumerate(self.cards):
            card.city, card.away_until, card.last_at = card.home, 0.0, 0.0
            push(t0 + rng.expovariate(card.per_day / day), "genuine", i)
        n_cards = len(self.cards) / 1000.0
        for kind, per_day in (("compromised_card", s.compromised_cards), ("compromised_site", s.compromised_sites),
                              ("large_value", s.large_values), ("impossible_travel", s.impossible_travels)):
            if per_day > 0:
                push(t0 + rng.expovariate(per_day * n_cards / day), "incident:" + kind, None)
        counter = 0
        incidents = 0
        while heap:
            at, _, kind, payload = heapq.heappop(heap)
            if at >= end:
                return
            if kind == "genuine":
                card = self.cards[payload]
                yield self._stamp(self._genuine(rng, card, at, day), at, rng, counter)
                counter += 1
                push(at + rng.expovariate(card.per_day / day), "genuine", payload)
            elif kind == "fraud":
                yield self._stamp(payload, at, rng, counter)
                counter += 1
            else:
                pattern = kind.split(":", 1)[1]
                incidents += 1
                for offset, tx in self._incident(rng, pattern, at, day):
                    if tx["fraud"]:
                        tx["incident"] = f"{pattern}-{incidents}"
                    push(at + offset, "fraud", tx)
                rate = {"compromised_card": s.compromised_cards, "compromised_site": s.compromised_sites,
                        "large_value": s.large_values, "impossible_travel": s.impossible_travels}[pattern]
                push(at + rng.expovariate(rate * n_cards / day), kind, None)

    def _stamp(self, tx: dict[str, Any], at: float, rng: random.Random, counter: int) -> dict[str, Any]:
        out = {"timestamp": format_timestamp(datetime.fromtimestamp(at, timezone.utc)),
               "transaction_id": f"t-{self.seed}-{counter:09d}-{rng.getrandbits(24):06x}"}
        out.update(tx)
        return out

    def _tx(self, card: Card, site: Site, value: float, city: str, fraud: bool, pattern: Optional[str]) -> dict[str, Any]:
        return {"user_id": card.user_id, "card_id": card.card_id, "site_id": site.site_id,
                "value": round(max(value, 0.5), 2), "location_id": city, "country": CITY[city][1],
                "fraud": fraud, "pattern": pattern, "incident": None}

    def _genuine(self, rng: random.Random, card: Card, at: float, day: float) -> dict[str, Any]:
        s = self.settings
        # A trip starts or ends only if a plane (and the airports) could make it since the last use.
        if card.city != card.home and at >= card.away_until:
            if at - card.last_at >= _flight_hours(card.city, card.home) * 3600 / s.time_scale:
                card.city = card.home
        elif card.city == card.home and rng.random() < s.travel_per_day / card.per_day:
            dest = rng.choice([c[0] for c in CITIES if c[0] != card.home])
            if card.last_at == 0 or at - card.last_at >= _flight_hours(card.home, dest) * 3600 / s.time_scale:
                card.city, card.away_until = dest, at + rng.uniform(2, 8) * day
        card.last_at = at
        if card.city == card.home and rng.random() < 0.8:
            site = self._site[rng.choice(card.favourites)]
        elif rng.random() < 0.3:
            site = rng.choice(self._online)
        else:
            site = rng.choice(self._local.get(card.city) or self._online)
        value = card.typical * CATEGORIES[site.category][1] * math.exp(rng.gauss(0, 0.5))
        return self._tx(card, site, value, card.city, False, None)

    def _incident(self, rng: random.Random, pattern: str, at: float, day: float) -> list[tuple[float, dict[str, Any]]]:
        minute = 60.0 / self.settings.time_scale
        out: list[tuple[float, dict[str, Any]]] = []
        if pattern == "compromised_card":
            card = rng.choice(self.cards)
            where = rng.choice(FRAUDSTER_CITIES + [card.home])
            t = 0.0
            for _ in range(rng.randint(1, 2)):  # card testing
                t += rng.uniform(0.2, 2) * minute
                out.append((t, self._tx(card, rng.choice(self._online), rng.uniform(0.5, 3), where, True, pattern)))
            for _ in range(rng.randint(3, 8)):  # the spree
                t += rng.uniform(0.5, 4) * minute
                site = rng.choice(self._by_category[rng.choice(CASH_OUT)])
                out.append((t, self._tx(card, site, card.typical * rng.uniform(3, 10), where, True, pattern)))
        elif pattern == "compromised_site":
            site = rng.choice(self._online)
            amount = rng.uniform(60, 400)
            t = 0.0
            for _ in range(rng.randint(25, 60)):
                t += rng.expovariate(1 / (1.5 * minute))
                card = rng.choice(self.cards)
                out.append((t, self._tx(card, site, amount * rng.uniform(0.95, 1.05), card.city, True, pattern)))
        elif pattern == "large_value":
            card = rng.choice(self.cards)
            site = rng.choice(self._by_category[rng.choice(CASH_OUT)])
            out.append((rng.uniform(0, 5) * minute, self._tx(card, site, card.typical * rng.uniform(20, 60), card.city, True, pattern)))
        elif pattern == "impossible_travel":
            card = rng.choice(self.cards)
            # After the genuine card's next use at home: the clone shows up far away minutes later.
            far = [c for c in self._local if distance_km(c, card.city) > 1500] or list(self._local)
            where = rng.choice(far)
            sites = self._local[where]
            t = rng.uniform(5, 60) * minute
            genuine_site = self._site[rng.choice(card.favourites)]
            out.append((0.0, self._tx(card, genuine_site, card.typical * math.exp(rng.gauss(0, 0.4)), card.city, False, None)))
            for _ in range(rng.randint(1, 3)):
                out.append((t, self._tx(card, rng.choice(sites), card.typical * rng.uniform(2, 6), where, True, pattern)))
                t += rng.uniform(2, 20) * minute
        return out


def contract_fields(tx: dict[str, Any]) -> dict[str, Any]:
    """The transaction without its labels."""
    return {k: v for k, v in tx.items() if k not in LABELS}
