"""rastro-producer: run the simulator, send one update, or replay a JSONL file into Kafka."""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import time
from datetime import datetime, timezone
from typing import Any, Optional, Sequence

from . import __version__, metrics
from .contract import ContractError, format_timestamp, validate
from .kafka_config import ClientConfigError, load
from .simulator import SAO_PAULO, BoundingBox, Simulator, start_of

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_REJECTED = 0, 1, 2, 3


class Stop:
    """SIGTERM/SIGINT ask the loop to stop; pending updates are flushed before exit."""

    def __init__(self) -> None:
        self.requested = False
        signal.signal(signal.SIGTERM, self._handle)
        signal.signal(signal.SIGINT, self._handle)

    def _handle(self, signum: int, _frame: Any) -> None:
        self.requested = True
        print(f"received {signal.Signals(signum).name}: flushing pending updates", file=sys.stderr)


def _overrides(pairs: Sequence[str]) -> dict[str, str]:
    out = {}
    for pair in pairs:
        if "=" not in pair:
            raise SystemExit(f"error: -X expects key=value (got {pair!r})")
        k, v = pair.split("=", 1)
        out[k] = v
    return out


def _sender(args: argparse.Namespace, **kw: Any):
    from .sender import Sender  # confluent-kafka is only needed for commands that talk to Kafka
    conf = load(args.client_config) if args.client_config else {}
    bootstrap = args.bootstrap_servers or conf.pop("bootstrap.servers", None) or "localhost:9092"
    conf.pop("bootstrap.servers", None)
    return Sender(bootstrap, args.topic, {**conf, **_overrides(args.X)}, **kw)


def _finish(sender, args: argparse.Namespace, started: float) -> int:
    pending = sender.flush(args.flush_timeout)
    s = sender.stats
    elapsed = max(time.monotonic() - started, 1e-9)
    print(f"done: sent={s.sent} acknowledged={s.acked} failed={s.failed} pending={pending} "
          f"in {elapsed:.1f}s ({s.acked / elapsed:,.0f}/s acknowledged)", file=sys.stderr)
    if pending:
        print(f"error: {pending} updates still unacknowledged after {args.flush_timeout}s", file=sys.stderr)
    return EXIT_FAILED if (pending or s.failed) else EXIT_OK


def cmd_run(args: argparse.Namespace) -> int:
    sim = Simulator(args.drivers, args.bbox, args.seed, args.interval, args.deactivate_rate)
    # --shard I/N: this instance reports drivers I, I+N, I+2N, ... (the same ids and routes as a single
    # instance: every instance builds the whole seeded fleet and steps only its own).
    index, shards = args.shard
    mine = range(index, args.drivers, shards)
    if not mine:
        print(f"error: --shard {index}/{shards}: no drivers left for this shard (--drivers {args.drivers})", file=sys.stderr)
        return EXIT_USAGE
    rate = args.rate if args.rate is not None else len(mine) / args.interval
    try:
        metrics.serve(args.metrics_port, tls_cert=args.metrics_tls_cert, tls_key=args.metrics_tls_key,
                      users_file=args.metrics_users_file)
    except (OSError, ValueError) as exc:
        print(f"error: metrics endpoint on port {args.metrics_port}: {exc}", file=sys.stderr)
        return EXIT_USAGE
    metrics.RATE.set(rate)
    metrics.DRIVERS.set(len(mine))
    sender = _sender(args)
    stop = Stop()
    started = last_report = time.monotonic()
    deadline = started + args.duration if args.duration else float("inf")
    n = len(mine)
    sent = reported = 0
    print(f"producing to {args.topic} at {rate:,.0f} updates/s for {n} drivers"
          f"{f' (shard {index}/{shards})' if shards > 1 else ''} "
          f"({'until stopped' if not args.duration else f'{args.duration:g}s'})", file=sys.stderr)
    while not stop.requested:
        now = time.monotonic()
        if now >= deadline or (args.count and sent >= args.count):
            break
        due = int((now - started) * rate) if rate > 0 else sent + 1000
        if args.count:
            due = min(due, args.count)
        now_ms = int(time.time() * 1000)
        while sent < due:
            key, update = sim.step(mine[sent % n], now_ms)
            sender.send(key, update)
            sent += 1
        sender.poll(0 if rate <= 0 else 0.005)
        if now - last_report >= args.report_every:
            s = sender.stats
            print(f"{datetime.now(timezone.utc):%H:%M:%S} sent={s.sent} acked={s.acked} failed={s.failed} "
                  f"rate={(s.sent - reported) / (now - last_report):,.0f}/s queue={len(sender.producer)}",
                  file=sys.stderr)
            reported, last_report = s.sent, now
    return _finish(sender, args, started)


def cmd_send(args: argparse.Namespace) -> int:
    if args.tombstone:
        update = None
    else:
        update = {"driver_id": args.driver_id, "latitude": args.latitude, "longitude": args.longitude,
                  "timestamp": args.timestamp or format_timestamp(datetime.now(timezone.utc)),
                  "status": args.status}
        validate(update)
    acks: list = []
    sender = _sender(args, on_ack=acks.append)
    started = time.monotonic()
    sender.send(args.driver_id, update)
    code = _finish(sender, args, started)
    for msg in acks:
        print(json.dumps({"topic": msg.topic(), "partition": msg.partition(), "offset": msg.offset(),
                          "key": args.driver_id, "value": update}))
    return code


def cmd_replay(args: argparse.Namespace) -> int:
    sender = _sender(args)
    stop = Stop()
    started = time.monotonic()
    rejected = 0
    with open(args.file, encoding="utf-8") as fh:
        for number, line in enumerate(fh, 1):
            if stop.requested:
                break
            if not line.strip():
                continue
            try:
                try:
                    body = json.loads(line)
                except ValueError as exc:
                    raise ContractError("line", line.strip()[:60], f"is not JSON ({exc.msg})") from None
                if isinstance(body, dict) and set(body) == {"tombstone"}:
                    key, update = str(body["tombstone"]), None
                else:
                    key, update = (body.get("driver_id") if isinstance(body, dict) else None), validate(body)
                sender.send(key, update)
            except ContractError as exc:
                rejected += 1
                metrics.REJECTED.labels(field=exc.field).inc()
                print(f"{args.file}:{number}: rejected: {exc}", file=sys.stderr)
            sender.poll(0)
    code = _finish(sender, args, started)
    if rejected:
        print(f"{rejected} line(s) rejected; the valid ones were sent", file=sys.stderr)
        return code or EXIT_REJECTED
    return code


def cmd_generate(args: argparse.Namespace) -> int:
    sim = Simulator(args.drivers, args.bbox, args.seed, args.interval, args.deactivate_rate)
    out = open(args.output, "w", encoding="utf-8") if args.output != "-" else sys.stdout
    try:
        for key, update in sim.rounds(start_of(args.start), args.count):
            out.write(json.dumps(update if update is not None else {"tombstone": key}, separators=(",", ":")) + "\n")
    finally:
        if out is not sys.stdout:
            out.close()
    return EXIT_OK


def _bbox(text: str) -> BoundingBox:
    try:
        return BoundingBox.parse(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _shard(text: str) -> tuple[int, int]:
    try:
        index, shards = (int(part) for part in text.split("/"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected I/N, e.g. 0/2 (got {text!r})") from None
    if shards < 1 or not 0 <= index < shards:
        raise argparse.ArgumentTypeError(f"needs N >= 1 and 0 <= I < N (got {text!r})")
    return index, shards


def _positive(kind: type):
    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number (got {text!r})") from None
        if value < 0:
            raise argparse.ArgumentTypeError(f"must not be negative (got {text!r})")
        return value
    return parse


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="rastro-producer", description=__doc__)
    p.add_argument("--version", action="version", version=__version__)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--bootstrap-servers", default=os.environ.get("RASTRO_BOOTSTRAP"),
                        help="host:port list (env RASTRO_BOOTSTRAP; default: the client config's, else localhost:9092)")
    common.add_argument("--client-config", default=os.environ.get("RASTRO_CLIENT_CONFIG"), metavar="FILE",
                        help="Kafka client properties (security protocol, SASL user and password, CA), e.g. "
                             "credentials/local/kafka/producer.properties (env RASTRO_CLIENT_CONFIG)")
    common.add_argument("--topic", default="driver-locations")
    common.add_argument("-X", action="append", default=[], metavar="KEY=VALUE",
                        help="librdkafka setting, e.g. -X linger.ms=5 (acks and idempotence stay on unless overridden)")
    common.add_argument("--flush-timeout", type=_positive(float), default=60.0,
                        help="seconds to wait for pending acknowledgements at exit")
    sim = argparse.ArgumentParser(add_help=False)
    sim.add_argument("--drivers", type=_positive(int), default=1000)
    sim.add_argument("--interval", type=_positive(float), default=4.0, help="seconds between a driver's reports")
    sim.add_argument("--seed", type=int, default=42)
    sim.add_argument("--bbox", type=_bbox, default=BoundingBox(*SAO_PAULO), help="south,west,north,east")
    sim.add_argument("--deactivate-rate", type=_positive(float), default=0.0,
                     help="chance that an offline driver's report is a tombstone instead")
    sub = p.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", parents=[common, sim], help="simulate drivers continuously")
    run.add_argument("--rate", type=_positive(float), help="updates/s (default drivers/interval; 0 = as fast as possible)")
    run.add_argument("--duration", type=_positive(float), default=0, help="seconds (0 = until stopped)")
    run.add_argument("--count", type=_positive(int), default=0, help="stop after this many updates (0 = no limit)")
    run.add_argument("--metrics-port", type=_positive(int), default=8000, help="0 disables the metrics endpoint")
    run.add_argument("--metrics-tls-cert", metavar="PEM", help="serve the metrics over HTTPS with this certificate")
    run.add_argument("--metrics-tls-key", metavar="PEM", help="the private key of --metrics-tls-cert")
    run.add_argument("--metrics-users-file", metavar="FILE",
                     help="require HTTP basic authentication by these users (user:sha256:salt:hash lines)")
    run.add_argument("--report-every", type=_positive(float), default=5.0)
    run.add_argument("--shard", type=_shard, default=(0, 1), metavar="I/N",
                     help="report only drivers i with i %% N == I (instances on several hosts split the fleet)")
    run.set_defaults(func=cmd_run)

    send = sub.add_parser("send", parents=[common], help="send one update")
    send.add_argument("--driver-id", required=True)
    send.add_argument("--latitude", type=float)
    send.add_argument("--longitude", type=float)
    send.add_argument("--status", default="available")
    send.add_argument("--timestamp", help="default: now")
    send.add_argument("--tombstone", action="store_true", help="deactivate the driver")
    send.set_defaults(func=cmd_send)

    replay = sub.add_parser("replay", parents=[common], help="send the updates of a JSONL file")
    replay.add_argument("file")
    replay.set_defaults(func=cmd_replay)

    gen = sub.add_parser("generate", parents=[sim], help="write simulated updates as JSONL (no Kafka)")
    gen.add_argument("--count", type=_positive(int), default=10000)
    gen.add_argument("--start", help="ISO-8601 start of the simulated clock (default 2026-01-01T00:00:00Z)")
    gen.add_argument("--output", "-o", default="-")
    gen.set_defaults(func=cmd_generate)
    return p


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = parser().parse_args(argv)
    try:
        return args.func(args)
    except ContractError as exc:
        print(f"error: invalid update: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except ClientConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except OSError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except RuntimeError as exc:  # FatalProducerError and client construction errors
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_FAILED


if __name__ == "__main__":
    sys.exit(main())
