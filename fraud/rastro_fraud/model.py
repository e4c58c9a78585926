"""Training, evaluation and versioned model files.

A model is scikit-learn's HistGradientBoostingClassifier over rastro_fraud.features, trained on the
generator's labelled history and judged on a held-out run (another period of the same world that
training never saw). The threshold for REVIEW is the one with the best F1 on the last fifth of the
training period, never flagging more than the review team's capacity. Files, in the models
directory: ``fraud-v<N>.pkl`` (the model and what it needs to score), ``fraud-v<N>.json`` (its
metrics) and ``deployed`` (the version the decision service loads). A new model is deployed only if
its AUC-PR on the held-out run is at least the deployed one's on the same run.

The .pkl files are Python pickles: load only the ones this code wrote (the directory is the
operator's, like the credentials).
"""

from __future__ import annotations

import json
import logging
import pickle
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Optional

import numpy as np
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.metrics import average_precision_score, precision_recall_curve

from rastro_fraud import features
from rastro_fraud.contract import epoch
from rastro_fraud.decision import REVIEW, BlocklistEntry, Blocklists, Decider, SiteRule
from rastro_fraud.generator import PATTERNS, Settings, World

log = logging.getLogger(__name__)
DEPLOYED = "deployed"
# How long analysts take to cancel a false positive in the replay (the requirement's P50 is 10 min).
ANALYST_DELAY = 600.0


@dataclass
class Dataset:
    x: np.ndarray
    y: np.ndarray
    rows: list[dict[str, Any]]  # per transaction: ids, timestamp, labels (for the replay)
    state: Optional[features.Features] = None  # the features' state after the last transaction


@dataclass
class Model:
    version: str
    classifier: HistGradientBoostingClassifier
    threshold: float
    time_scale: float
    feature_names: tuple[str, ...]

    def scores(self, x: np.ndarray) -> np.ndarray:
        return self.classifier.predict_proba(x)[:, 1]


def site_reference(world: World) -> dict[str, dict[str, Any]]:
    return {s.site_id: {"category": s.category, "online": s.online} for s in world.sites}


def dataset(world: World, days: float, seed_offset: int = 0, progress_every: int = 200_000,
            after: Optional[Dataset] = None) -> Dataset:
    """Feature vectors and labels of `days` simulated days of the world, in order. With `after`, the
    days that follow that dataset's, each card and site carrying its history from it (as the decision
    service's state does; a card's first transaction otherwise has no amount to compare with)."""
    feats = after.state if after is not None and after.state is not None else features.Features(
        site_reference(world), world.settings.time_scale)
    after_days = 0.0
    if after is not None and after.rows:
        after_days = (epoch(after.rows[-1]["timestamp"]) - world.start) * world.settings.time_scale / 86400.0
    vectors: list[list[float]] = []
    labels: list[int] = []
    rows: list[dict[str, Any]] = []
    started = time.monotonic()
    for tx in world.transactions(days=days, seed_offset=seed_offset, after_days=after_days):
        vectors.append(feats.vector(tx))
        labels.append(int(tx["fraud"]))
        rows.append({k: tx[k] for k in ("transaction_id", "timestamp", "card_id", "user_id", "site_id",
                                        "fraud", "pattern", "incident")})
        if progress_every and len(rows) % progress_every == 0:
            log.info("%d transactions featurised (%.0f s)", len(rows), time.monotonic() - started)
    return Dataset(np.asarray(vectors, dtype=np.float64), np.asarray(labels, dtype=np.int8), rows, feats)


def choose_threshold(y: np.ndarray, scores: np.ndarray, capacity: float) -> float:
    """The score with the best F1, raised if needed so at most `capacity` of transactions are flagged."""
    precision, recall, thresholds = precision_recall_curve(y, scores)
    f1 = 2 * precision[:-1] * recall[:-1] / np.maximum(precision[:-1] + recall[:-1], 1e-12)
    best = float(thresholds[int(np.argmax(f1))])
    cap = float(np.quantile(scores, 1 - capacity)) if capacity < 1 else 0.0
    return max(best, cap)


def train(data: Dataset, capacity: float, version: str, time_scale: float, seed: int = 7) -> Model:
    """Fit on the first four fifths of the training period; the threshold from the last fifth;
    then refit on all of it."""
    cut = int(len(data.y) * 0.8)
    params = dict(max_iter=300, learning_rate=0.08, max_leaf_nodes=31, l2_regularization=1.0,
                  random_state=seed, early_stopping=False)
    started = time.monotonic()
    log.info("fitting on the first %d transactions (1 of 2)", cut)
    first = HistGradientBoostingClassifier(**params).fit(data.x[:cut], data.y[:cut])
    threshold = choose_threshold(data.y[cut:], first.predict_proba(data.x[cut:])[:, 1], capacity)
    log.info("threshold %.3f from the last %d; refitting on all %d (2 of 2, %.0f s so far)",
             threshold, len(data.y) - cut, len(data.y), time.monotonic() - started)
    final = HistGradientBoostingClassifier(**params).fit(data.x, data.y)
    log.info("fitted in %.0f s", time.monotonic() - started)
    return Model(version, final, threshold, time_scale, features.NAMES)


def replay(model: Model, data: Dataset, scores: Optional[np.ndarray] = None,
           review_delay: float = ANALYST_DELAY) -> list[str]:
    """The decision service's logic over the held-out run in order, blocklists included: what each
    transaction would get. A REVIEW blocklists the card, the site rule may blocklist the site, and
    analysts cancel the entries a genuine transaction caused `review_delay` seconds later (real
    time; confirmed ones stay)."""
    scores = model.scores(data.x) if scores is None else scores
    blocklists = Blocklists()
    decider = Decider(blocklists, model.threshold, model.version)
    rule = SiteRule(window=SiteRule().window / model.time_scale)
    delay = review_delay / model.time_scale
    cancellations: list[tuple[float, str, str]] = []  # (when, kind, key), in time order
    outcomes = []
    for row, score in zip(data.rows, scores):
        at = epoch(row["timestamp"])
        while cancellations and cancellations[0][0] <= at:
            _, kind, key = cancellations.pop(0)
            blocklists.put(kind, key, None)
        decision, entries = decider.decide(row, score)
        outcomes.append(decision.outcome)
        if decision.outcome != REVIEW:
            continue
        if rule.flagged(row["site_id"], row["card_id"], at):
            entries.append(BlocklistEntry("site", row["site_id"], "site rule", row["transaction_id"]))
        for e in entries:
            blocklists.put(e.kind, e.key, {"reason": e.reason})
            if not row["fraud"]:
                cancellations.append((at + delay, e.kind, e.key))
    return outcomes


def evaluate(model: Model, data: Dataset, capacity: float) -> dict[str, Any]:
    """Model-only metrics at the threshold and at the review capacity, and the replay's per-pattern
    figures (with the blocklists): incidents caught, fraudulent transactions stopped, genuine ones hit."""
    log.info("scoring the held-out run (%d transactions) and replaying the decisions", len(data.y))
    y, scores = data.y, model.scores(data.x)
    flagged = scores >= model.threshold
    tp = int(np.sum(flagged & (y == 1)))
    top = max(int(len(y) * capacity), 1)
    order = np.argsort(-scores)[:top]
    out: dict[str, Any] = {
        "transactions": int(len(y)), "fraudulent": int(y.sum()), "threshold": round(model.threshold, 6),
        "precision": round(tp / max(int(flagged.sum()), 1), 4), "recall": round(tp / max(int(y.sum()), 1), 4),
        "auc_pr": round(float(average_precision_score(y, scores)), 4),
        "review_capacity": capacity,
        "precision_at_capacity": round(float(y[order].mean()), 4),
        "recall_at_capacity": round(float(y[order].sum() / max(int(y.sum()), 1)), 4),
    }
    outcomes = replay(model, data, scores)
    patterns: dict[str, dict[str, Any]] = {}
    incidents: dict[str, set[str]] = defaultdict(set)
    caught: dict[str, set[str]] = defaultdict(set)
    stopped: dict[str, int] = defaultdict(int)
    total: dict[str, int] = defaultdict(int)
    genuine_hit = genuine = 0
    for row, outcome in zip(data.rows, outcomes):
        if row["fraud"]:
            p = row["pattern"]
            total[p] += 1
            incidents[p].add(row["incident"])
            if outcome != "APPROVED":
                stopped[p] += 1
                caught[p].add(row["incident"])
        else:
            genuine += 1
            genuine_hit += outcome != "APPROVED"
    for p in PATTERNS:
        patterns[p] = {"incidents": len(incidents[p]), "incidents_caught": len(caught[p]),
                       "transactions": total[p], "transactions_stopped": stopped[p],
                       "incidents_caught_share": round(len(caught[p]) / max(len(incidents[p]), 1), 4),
                       "transactions_stopped_share": round(stopped[p] / max(total[p], 1), 4)}
    out["replay"] = {"patterns": patterns, "genuine": genuine, "genuine_not_approved": genuine_hit,
                     "genuine_not_approved_share": round(genuine_hit / max(genuine, 1), 5)}
    return out


# -- files ---------------------------------------------------------------------------------------
def versions(models_dir: Path) -> list[int]:
    return sorted(int(p.stem.split("-v", 1)[1]) for p in models_dir.glob("fraud-v*.pkl"))


def save(model: Model, metrics: dict[str, Any], models_dir: Path) -> Path:
    models_dir.mkdir(parents=True, exist_ok=True)
    path = models_dir / f"fraud-{model.version}.pkl"
    with path.open("wb") as f:
        pickle.dump(model, f, protocol=5)
    (models_dir / f"fraud-{model.version}.json").write_text(json.dumps(metrics, indent=2) + "\n")
    return path


def load(models_dir: Path, version: Optional[str] = None) -> Model:
    """The named version, or the deployed one. Raises FileNotFoundError naming what is missing."""
    if version is None:
        pointer = models_dir / DEPLOYED
        if not pointer.exists():
            raise FileNotFoundError(f"{pointer}: no model deployed (run `make train`)")
        version = pointer.read_text().strip()
    path = models_dir / f"fraud-{version}.pkl"
    if not path.exists():
        raise FileNotFoundError(f"{path}: model {version} not found")
    with path.open("rb") as f:
        model = pickle.load(f)  # noqa: S301 - our own file (see the module docstring)
    if not isinstance(model, Model):
        raise ValueError(f"{path}: not a rastro fraud model")
    return model


def deployed_version(models_dir: Path) -> Optional[str]:
    pointer = models_dir / DEPLOYED
    return pointer.read_text().strip() if pointer.exists() else None


def deploy(models_dir: Path, version: str) -> None:
    tmp = models_dir / (DEPLOYED + ".tmp")
    tmp.write_text(version + "\n")
    tmp.replace(models_dir / DEPLOYED)


def world_for(seed: int, time_scale: float, users: Optional[int] = None, **settings_: float) -> World:
    """The world of a seed; `users` scales it (sites are 30% of the users); other Settings by name."""
    settings = Settings(time_scale=time_scale, **settings_)
    if users:
        settings.users, settings.sites = users, max(users * 3 // 10, 50)
    return World(seed, settings)


def train_and_maybe_deploy(models_dir: Path, seed: int, days: float, held_out_days: float, capacity: float,
                           time_scale: float = 1.0, users: Optional[int] = None,
                           extra: Iterable[tuple[list[float], int]] = (), **settings: float) -> dict[str, Any]:
    """make train: the next version, its metrics, and whether it replaced the deployed one."""
    world = world_for(seed, time_scale, users, **settings)
    log.info("generating %g days of history (seed %d, %d cards, time scale %g)", days, seed, len(world.cards), time_scale)
    train_data = dataset(world, days)
    extra = list(extra)
    if extra:
        train_data.x = np.vstack([train_data.x, np.asarray([e[0] for e in extra], dtype=np.float64)])
        train_data.y = np.concatenate([train_data.y, np.asarray([e[1] for e in extra], dtype=np.int8)])
    log.info("training on %d transactions (%d fraudulent, %d analyst labels)", len(train_data.y), int(train_data.y.sum()), len(extra))
    existing = versions(models_dir)
    version = f"v{(existing[-1] if existing else 0) + 1}"
    model = train(train_data, capacity, version, time_scale, seed)
    log.info("held-out run: the %g days that follow, in the same world", held_out_days)
    held_out = dataset(world, held_out_days, seed_offset=1, after=train_data)
    metrics = {"version": version, "trained_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
               "seed": seed, "days": days, "held_out_days": held_out_days, "time_scale": time_scale,
               "users": users, "world_settings": settings,
               "cards": len(world.cards), "features": list(features.NAMES), "analyst_labels": len(extra),
               "held_out": evaluate(model, held_out, capacity)}
    current = deployed_version(models_dir)
    decision = {"deployed_before": current}
    if current is not None:
        old = load(models_dir)
        if old.time_scale == time_scale and old.feature_names == features.NAMES:
            old_auc = round(float(average_precision_score(held_out.y, old.scores(held_out.x))), 4)
        else:
            old_auc = json.loads((models_dir / f"fraud-{current}.json").read_text())["held_out"]["auc_pr"]
        decision["deployed_auc_pr_on_this_run"] = old_auc
        decision["deployed"] = metrics["held_out"]["auc_pr"] >= old_auc
    else:
        decision["deployed"] = True
    metrics["deployment"] = decision
    save(model, metrics, models_dir)
    if decision["deployed"]:
        deploy(models_dir, version)
    return metrics
