from __future__ import annotations

import importlib.util
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Iterator

import pytest
import redis

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))


def load_module(name: str, path: Path):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


kafka_topic = load_module("kafka_topic", REPO / "library" / "kafka_topic.py")
# The modules import their shared helpers as Ansible ships them to a host.
load_module("ansible.module_utils.kafka_cli", REPO / "module_utils" / "kafka_cli.py")
kafka_assignment = load_module("ansible.module_utils.kafka_assignment", REPO / "module_utils" / "kafka_assignment.py")
kafka_acl = load_module("kafka_acl", REPO / "library" / "kafka_acl.py")
kafka_scram_user = load_module("kafka_scram_user", REPO / "library" / "kafka_scram_user.py")

sys.path.insert(0, str(REPO / "producer"))
sys.path.insert(0, str(REPO / "api"))
sys.path.insert(0, str(REPO / "fraud"))

kafka_connector = load_module("kafka_connector", REPO / "library" / "kafka_connector.py")


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[redis.Redis]:
    """A real redis-server (Debian's) on a free loopback port."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    proc = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                             "--dir", str(tmp_path)], stdout=subprocess.DEVNULL)
    client = redis.Redis(port=port, decode_responses=True)
    for _ in range(100):
        try:
            client.ping()
            break
        except redis.ConnectionError:
            time.sleep(0.05)
    yield client
    proc.terminate()
    proc.wait(10)


@pytest.fixture
def postgres() -> Iterator[str]:
    """A throw-away PostgreSQL server (Debian's) on a free loopback port; yields its DSN. It runs as
    the `postgres` system user: PostgreSQL refuses to run as root."""
    import glob
    import shutil
    import tempfile
    bindir = sorted(glob.glob("/usr/lib/postgresql/*/bin"))[-1]
    # Outside pytest's tmp_path, which only root may enter.
    top = Path(tempfile.mkdtemp(prefix="rastro-pg-"))
    top.chmod(0o755)
    data = top / "data"
    data.mkdir()
    shutil.chown(data, "postgres", "postgres")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    run = ["runuser", "-u", "postgres", "--"]
    subprocess.run(run + [f"{bindir}/initdb", "-D", str(data), "-A", "trust", "-U", "rastro"], check=True,
                   capture_output=True)
    subprocess.run(run + [f"{bindir}/pg_ctl", "-D", str(data), "-w", "-l", str(data / "log"), "-o",
                          f"-p {port} -k {data} -c listen_addresses=127.0.0.1", "start"], check=True, capture_output=True)
    try:
        yield f"host=127.0.0.1 port={port} user=rastro dbname=postgres"
    finally:
        subprocess.run(run + [f"{bindir}/pg_ctl", "-D", str(data), "-m", "immediate", "stop"], capture_output=True)
        shutil.rmtree(top, ignore_errors=True)
