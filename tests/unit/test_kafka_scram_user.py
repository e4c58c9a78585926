"""The SCRAM user module's planning: parsing kafka-configs, when a credential is (re)written or
deleted, and that a password never appears in what it reports."""

from __future__ import annotations

import pytest

from conftest import kafka_scram_user as ks

DESCRIBE = """SCRAM credential configs for user-principal 'admin' are SCRAM-SHA-512=iterations=8192
SCRAM credential configs for user-principal 'producer' are SCRAM-SHA-512=iterations=4096
SCRAM credential configs for user-principal 'legacy' are SCRAM-SHA-256=iterations=4096, SCRAM-SHA-512=iterations=8192
Quota configs for user-principal 'producer' are producer_byte_rate=1024
"""

USERS = [{"name": "admin", "password": "admin-secret-1"}, {"name": "producer", "password": "producer-secret"},
         {"name": "exporter", "password": "exporter-secret"}]


def test_describe_output_is_parsed() -> None:
    assert ks.parse_describe(DESCRIBE) == {
        "admin": {"SCRAM-SHA-512": 8192}, "producer": {"SCRAM-SHA-512": 4096},
        "legacy": {"SCRAM-SHA-256": 4096, "SCRAM-SHA-512": 8192}}


def test_plan_creates_rewrites_and_deletes_only_what_differs() -> None:
    asked: list[str] = []

    def password_ok(name: str, password: str) -> bool:
        asked.append(name)
        return True

    write, delete, actions = ks.plan(ks.parse_describe(DESCRIBE), USERS, "SCRAM-SHA-512", 8192, password_ok,
                                     remove_undeclared=True, keep=[])
    assert write == ["producer", "exporter"]
    assert delete == ["legacy"]
    assert asked == ["admin"], "only a credential of the right shape needs a login to check its password"
    assert actions == ["rewrite SCRAM-SHA-512 credential of producer: iterations 4096 -> 8192",
                       "create SCRAM-SHA-512 credential of exporter", "delete SCRAM credentials of legacy"]
    assert not any("secret" in a for a in actions)


def test_a_password_that_no_longer_logs_in_is_rewritten() -> None:
    current = {"admin": {"SCRAM-SHA-512": 8192}}
    write, _, actions = ks.plan(current, USERS[:1], "SCRAM-SHA-512", 8192, lambda n, p: False, True, [])
    assert write == ["admin"] and actions == ["rewrite SCRAM-SHA-512 credential of admin: password changed"]


def test_matching_users_change_nothing_and_kept_users_stay() -> None:
    current = {"admin": {"SCRAM-SHA-512": 8192}, "ops": {"SCRAM-SHA-512": 8192}}
    assert ks.plan(current, USERS[:1], "SCRAM-SHA-512", 8192, lambda n, p: True, True, ["ops"]) == ([], [], [])


@pytest.mark.parametrize("users,message", [
    ([{"name": "bad name", "password": "long-enough"}], "users[0].name must be letters"),
    ([{"name": "a", "password": "short"}], "users[0].password of 'a' must have at least 8 characters"),
    ([{"name": "a", "password": "long,enough"}], "users[0].password of 'a' must not contain"),
    ([{"name": "a", "password": "long-enough"}, {"name": "a", "password": "long-enough"}], "users[1].name 'a' is declared twice"),
])
def test_bad_users_are_refused_by_field(users: list, message: str) -> None:
    with pytest.raises(ks.ScramError) as exc:
        ks.validate(users)
    assert message in str(exc.value)
