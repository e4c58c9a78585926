from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

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
kafka_acl = load_module("kafka_acl", REPO / "library" / "kafka_acl.py")
kafka_scram_user = load_module("kafka_scram_user", REPO / "library" / "kafka_scram_user.py")

sys.path.insert(0, str(REPO / "producer"))
sys.path.insert(0, str(REPO / "api"))

kafka_connector = load_module("kafka_connector", REPO / "library" / "kafka_connector.py")
