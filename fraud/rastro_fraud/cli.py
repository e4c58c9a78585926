"""rastro-fraud: the fraud platform's command line.

  rastro-fraud generate --days 7 --out history.jsonl   labelled history (and --reference-dir)
  rastro-fraud validate FILE                           check transactions against the contract
  rastro-fraud train --models-dir fraud/models         the next model version (make train)
  rastro-fraud stream --client-config F --seconds 60   the deployed model's world, live, into Kafka
  rastro-fraud serve --client-config F                 the decision service
  rastro-fraud analyst blocklist|confirm|cancel KIND KEY   an analyst's verdict on a card, user or site
  rastro-fraud record --client-config F --database F   fraud-suspicious into PostgreSQL
  rastro-fraud suspicious --database F [--card C] ...  the analysts' query: suspicious transactions
  rastro-fraud review TRANSACTION confirm|cancel ...    an analyst's verdict on one of them (PostgreSQL and Kafka)
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path
from typing import Optional, Sequence

from rastro_fraud import contract

log = logging.getLogger("rastro_fraud")


def _timestamp(value: str) -> "datetime":  # type: ignore[name-defined]
    from datetime import datetime
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be an ISO 8601 time such as 2026-12-07T10:00:00Z (got {value!r})") from None


def _positive(kind: type) -> "argparse._ActionType":  # type: ignore[name-defined]
    def parse(value: str) -> float:
        try:
            number = kind(value)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be a positive number (got {value!r})") from None
        if number <= 0:
            raise argparse.ArgumentTypeError(f"must be a positive number (got {value!r})")
        return number
    return parse


def _share(value: str) -> float:
    try:
        number = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a share between 0 and 1 (got {value!r})") from None
    if not 0 < number <= 1:
        raise argparse.ArgumentTypeError(f"must be a share between 0 and 1 (got {value!r})")
    return number


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="rastro-fraud", description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="command", required=True)
    world = argparse.ArgumentParser(add_help=False)
    world.add_argument("--seed", type=int, default=7, help="the world's seed (default 7)")
    world.add_argument("--users", type=_positive(int), default=None, help="customers (default 5,000; sites are 30%% of it)")
    world.add_argument("--time-scale", type=_positive(float), default=1.0,
                       help="simulated seconds per real second (default 1; the live stream uses more)")

    g = sub.add_parser("generate", parents=[world], help="labelled transaction history as JSON lines")
    g.add_argument("--days", type=_positive(float), default=7.0, help="simulated days (default 7)")
    g.add_argument("--out", type=Path, required=True, help="file for the transactions ('-' for stdout)")
    g.add_argument("--reference-dir", type=Path, help="also write users.jsonl, sites.jsonl and cards.jsonl here")
    g.add_argument("--unlabelled", action="store_true", help="only the contract's fields (no fraud/pattern/incident)")

    v = sub.add_parser("validate", help="check transactions (JSON lines) against the contract; exit 1 on the first bad one")
    v.add_argument("file", type=Path)

    t = sub.add_parser("train", parents=[world], help="train, evaluate on a held-out run, deploy if not worse")
    t.add_argument("--models-dir", type=Path, default=Path("fraud/models"), help="versioned model files (default fraud/models)")
    t.add_argument("--days", type=_positive(float), default=20.0, help="simulated days of training history (default 20)")
    t.add_argument("--held-out-days", type=_positive(float), default=10.0, help="simulated days of the held-out run (default 10)")
    t.add_argument("--review-capacity", type=_share, default=0.005,
                   help="share of transactions the review team can look at (default 0.005)")
    t.add_argument("--labels", type=Path, help="analyst labels (JSON lines of {\"features\": [...], \"fraud\": bool})")
    st = sub.add_parser("stream", help="the deployed model's world as a live stream into card-transactions")
    st.add_argument("--client-config", type=Path, required=True, help="Kafka client config (credentials/<inventory>/kafka/…)")
    st.add_argument("--models-dir", type=Path, default=Path("fraud/models"))
    st.add_argument("--seconds", type=_positive(float), default=60.0, help="how long to stream (default 60)")
    st.add_argument("--labels-out", type=Path, help="write each transaction's labels here (JSON lines)")
    st.add_argument("--topic", default="card-transactions")
    st.add_argument("--run", type=int, default=2,
                    help="which run of the world (0 trained the model, 1 evaluated it; default 2: one neither saw)")
    st.add_argument("--history", type=float, default=0.0,
                    help="real seconds of the world sent first, at once, with past timestamps (a past for the cards)")
    st.add_argument("--fraud-boost", type=_positive(float), default=1.0,
                    help="multiply how often each fraud scenario starts (a short run still sees every one)")

    sv = sub.add_parser("serve", help="the decision service (one member of the rastro-fraud group)")
    sv.add_argument("--client-config", type=Path, required=True)
    sv.add_argument("--models-dir", type=Path, default=Path("/opt/rastro-fraud/models"))
    sv.add_argument("--instance", required=True, help="this instance's name (its transactional.id suffix)")
    sv.add_argument("--batch", type=_positive(int), default=5000,
                    help="the most transactions in one Kafka transaction (default 5,000; a batch is what arrived meanwhile)")
    sv.add_argument("--warmup", type=_positive(float), default=3600.0,
                    help="real seconds of a partition's history that rebuild its card state (default 3600)")
    sv.add_argument("--metrics-port", type=_positive(int), default=9312)
    sv.add_argument("--tls-cert")
    sv.add_argument("--tls-key")
    sv.add_argument("--users-file", help="metrics users (user:sha256:salt:hash lines)")

    an = sub.add_parser("analyst", help="an analyst's verdict on a card, user or site, through fraud-feedback")
    an.add_argument("verdict", choices=["blocklist", "confirm", "cancel"])
    an.add_argument("kind", choices=["card", "user", "site"])
    an.add_argument("key")
    an.add_argument("--client-config", type=Path, required=True)
    an.add_argument("--reason", default="")
    an.add_argument("--analyst", default="")

    rc = sub.add_parser("record", help="the recorder: fraud-suspicious into PostgreSQL (one member of its group)")
    rc.add_argument("--client-config", type=Path, required=True)
    rc.add_argument("--database", type=Path, required=True, help="database client file (hosts, port, dbname, user, password)")

    sq = sub.add_parser("suspicious", help="suspicious transactions from PostgreSQL, newest first, as JSON lines")
    sq.add_argument("--database", type=Path, required=True, help="e.g. credentials/local/fraud-analyst-db.properties")
    sq.add_argument("--card", dest="card_id")
    sq.add_argument("--user", dest="user_id")
    sq.add_argument("--site", dest="site_id")
    sq.add_argument("--since", type=_timestamp, help="ISO 8601 time, e.g. 2026-12-07T10:00:00Z")
    sq.add_argument("--until", type=_timestamp)
    sq.add_argument("--limit", type=_positive(int), default=100)

    rv = sub.add_parser("review", help="an analyst's verdict on one suspicious transaction: recorded in PostgreSQL "
                                       "and sent to fraud-feedback for its card (confirm keeps it blocklisted, cancel lets it through)")
    rv.add_argument("transaction_id")
    rv.add_argument("verdict", choices=["confirm", "cancel"])
    rv.add_argument("--database", type=Path, required=True)
    rv.add_argument("--client-config", type=Path, required=True)
    rv.add_argument("--analyst", required=True)
    p.add_argument("-v", "--verbose", action="store_true")
    return p


def _generate(args: argparse.Namespace) -> int:
    from rastro_fraud.generator import contract_fields
    from rastro_fraud.model import world_for
    world = world_for(args.seed, args.time_scale, args.users)
    if args.reference_dir:
        args.reference_dir.mkdir(parents=True, exist_ok=True)
        files = {k: (args.reference_dir / f"{k}.jsonl").open("w") for k in ("users", "sites", "cards")}
        for kind, record in world.reference():
            files[kind].write(json.dumps(record) + "\n")
        for f in files.values():
            f.close()
    out = sys.stdout if str(args.out) == "-" else args.out.open("w")
    n = fraud = 0
    for tx in world.transactions(days=args.days):
        contract.validate(contract_fields(tx))
        out.write(json.dumps(contract_fields(tx) if args.unlabelled else tx) + "\n")
        n += 1
        fraud += tx["fraud"]
    if out is not sys.stdout:
        out.close()
    log.info("%d transactions, %d fraudulent (%.2f%%)", n, fraud, 100 * fraud / max(n, 1))
    return 0


def _validate(args: argparse.Namespace) -> int:
    with args.file.open() as f:
        for line_no, line in enumerate(f, 1):
            try:
                contract.validate(json.loads(line))
            except json.JSONDecodeError as exc:
                print(f"{args.file}:{line_no}: not JSON: {exc}", file=sys.stderr)
                return 1
            except contract.TransactionError as exc:
                print(f"{args.file}:{line_no}: {exc}", file=sys.stderr)
                return 1
    print(f"{args.file}: {line_no if 'line_no' in locals() else 0} transactions meet the contract")
    return 0


def _train(args: argparse.Namespace) -> int:
    from rastro_fraud import features, model
    extra = []
    if args.labels:
        with args.labels.open() as f:
            for line_no, line in enumerate(f, 1):
                row = json.loads(line)
                if len(row.get("features", [])) != len(features.NAMES) or not isinstance(row.get("fraud"), bool):
                    print(f"{args.labels}:{line_no}: needs {len(features.NAMES)} features and a boolean fraud", file=sys.stderr)
                    return 1
                extra.append(([float("nan") if v is None else float(v) for v in row["features"]], int(row["fraud"])))
    metrics = model.train_and_maybe_deploy(args.models_dir, args.seed, args.days, args.held_out_days,
                                           args.review_capacity, args.time_scale, args.users, extra)
    print(report(metrics))
    return 0


def _client(path: Path) -> dict[str, str]:
    from rastro_producer import kafka_config
    return kafka_config.load(path)


def _stream(args: argparse.Namespace) -> int:
    from rastro_fraud import stream
    from rastro_fraud.model import load, world_for
    import json as _json
    m = load(args.models_dir)
    meta = _json.loads((args.models_dir / f"fraud-{m.version}.json").read_text())
    world = world_for(meta["seed"], m.time_scale, meta.get("users"), **meta.get("world_settings", {}))
    for rate in ("compromised_cards", "compromised_sites", "large_values", "impossible_travels"):
        setattr(world.settings, rate, getattr(world.settings, rate) * args.fraud_boost)
    if args.history < 0:
        print(f"rastro-fraud stream: --history must be 0 or more (got {args.history!r})", file=sys.stderr)
        return 2
    result = stream.run(_client(args.client_config), world, args.seconds, args.topic, args.labels_out, run=args.run,
                        history=args.history)
    print(_json.dumps(result))
    return 0 if result["failed"] == 0 else 1


def _serve(args: argparse.Namespace) -> int:
    import signal
    import threading
    from rastro_fraud.model import load
    from rastro_fraud.service import DecisionService
    from rastro_producer import metrics_http
    service = DecisionService(_client(args.client_config), load(args.models_dir), args.instance,
                              batch=args.batch, warmup=args.warmup)
    metrics_http.serve(args.metrics_port, tls_cert=args.tls_cert, tls_key=args.tls_key, users_file=args.users_file,
                       health=service.health)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    service.run(stop)
    return 0


def _analyst(args: argparse.Namespace) -> int:
    from rastro_fraud import feedback
    record = feedback.send(_client(args.client_config), args.verdict, args.kind, args.key, args.reason, args.analyst)
    print(json.dumps(record))
    return 0


def _record(args: argparse.Namespace) -> int:
    import signal
    import threading
    from rastro_fraud import recorder
    from rastro_fraud.store import Store
    store = Store.from_file(args.database)
    store.migrate()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    written = recorder.run(_client(args.client_config), store, stop)
    log.info("stopped after recording %d suspicious transactions", written)
    store.close()
    return 0


def _suspicious(args: argparse.Namespace) -> int:
    from rastro_fraud.store import Store
    store = Store.from_file(args.database)
    rows = store.find(since=args.since, until=args.until, limit=args.limit, card_id=args.card_id, user_id=args.user_id,
                      site_id=args.site_id)
    for row in rows:
        print(json.dumps(row, default=str))
    store.close()
    return 0


def _review(args: argparse.Namespace) -> int:
    from rastro_fraud import feedback
    from rastro_fraud.store import Store
    store = Store.from_file(args.database)
    try:
        row = store.verdict(args.transaction_id, {"confirm": "confirmed", "cancel": "cancelled"}[args.verdict], args.analyst)
    except KeyError as exc:
        print(f"rastro-fraud review: {exc.args[0]}", file=sys.stderr)
        return 1
    finally:
        store.close()
    sent = feedback.send(_client(args.client_config), args.verdict, "card", row["card_id"],
                         f"review of {args.transaction_id}", args.analyst)
    print(json.dumps({"transaction_id": args.transaction_id, "verdict": row["verdict"], "feedback": sent}, default=str))
    return 0


def report(metrics: dict) -> str:
    """make train's table: the held-out metrics, each pattern, and the deployment decision."""
    h = metrics["held_out"]
    lines = [f"model {metrics['version']} (seed {metrics['seed']}, {metrics['days']:g} days, time scale {metrics['time_scale']:g}), "
             f"held-out run: {h['transactions']:,} transactions, {h['fraudulent']:,} fraudulent",
             f"  threshold {h['threshold']:.3f}: precision {h['precision']:.3f}, recall {h['recall']:.3f}; AUC-PR {h['auc_pr']:.3f}",
             f"  at the review capacity ({h['review_capacity']:.2%} of transactions): precision {h['precision_at_capacity']:.3f}, "
             f"recall {h['recall_at_capacity']:.3f}",
             "  with the blocklists (replay):  pattern             incidents caught   fraudulent transactions stopped"]
    for name, p in h["replay"]["patterns"].items():
        lines.append(f"    {name:<20} {p['incidents_caught']:>6} / {p['incidents']:<6} {p['incidents_caught_share']:>6.1%}"
                     f"   {p['transactions_stopped']:>6} / {p['transactions']:<6} {p['transactions_stopped_share']:>6.1%}")
    lines.append(f"    genuine transactions not approved: {h['replay']['genuine_not_approved']:,} "
                 f"({h['replay']['genuine_not_approved_share']:.3%}; analysts cancel false positives after 10 min)")
    d = metrics["deployment"]
    if d["deployed_before"] is None:
        lines.append(f"deployed {metrics['version']} (no model was deployed)")
    elif d["deployed"]:
        lines.append(f"deployed {metrics['version']}: AUC-PR {h['auc_pr']:.3f} >= {d['deployed_auc_pr_on_this_run']:.3f} of {d['deployed_before']}")
    else:
        lines.append(f"NOT deployed: AUC-PR {h['auc_pr']:.3f} < {d['deployed_auc_pr_on_this_run']:.3f} of "
                     f"{d['deployed_before']} on the same run; {d['deployed_before']} stays")
    return "\n".join(lines)


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        return {"generate": _generate, "validate": _validate, "train": _train, "stream": _stream, "serve": _serve,
                "analyst": _analyst, "record": _record, "suspicious": _suspicious, "review": _review}[args.command](args)
    except (FileNotFoundError, ValueError, contract.TransactionError) as exc:
        print(f"rastro-fraud {args.command}: {exc}", file=sys.stderr)
        return 1
