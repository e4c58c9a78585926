"""The ACL module's planning: bindings from declarations, parsing kafka-acls, what it adds and removes."""

from __future__ import annotations

import pytest

from conftest import kafka_acl as ka

LISTING = """Current ACLs for resource `ResourcePattern(resourceType=TOPIC, name=driver-locations, patternType=LITERAL)`:
 \t(principal=User:producer, host=*, operation=WRITE, permissionType=ALLOW)
 \t(principal=User:producer, host=*, operation=DESCRIBE, permissionType=ALLOW)

Current ACLs for resource `ResourcePattern(resourceType=CLUSTER, name=kafka-cluster, patternType=LITERAL)`:
 \t(principal=User:producer, host=*, operation=IDEMPOTENT_WRITE, permissionType=ALLOW)
 \t(principal=User:old-app, host=*, operation=DESCRIBE_CONFIGS, permissionType=ALLOW)
"""

PRODUCER = [
    {"principal": "User:producer", "resource_type": "topic", "name": "driver-locations", "operations": ["Write", "Describe"]},
    {"principal": "User:producer", "resource_type": "cluster", "operations": ["IdempotentWrite"]},
]


def test_listing_is_parsed_into_bindings() -> None:
    found = ka.parse_list(LISTING)
    assert len(found) == 4
    assert ka.Binding("User:producer", "CLUSTER", "kafka-cluster", "LITERAL", "IDEMPOTENTWRITE", "ALLOW", "*") in found
    assert ka.Binding("User:old-app", "CLUSTER", "kafka-cluster", "LITERAL", "DESCRIBECONFIGS", "ALLOW", "*") in found


def test_declared_acls_already_present_change_nothing_and_undeclared_ones_go() -> None:
    add, remove = ka.plan(ka.parse_list(LISTING), ka.expand(PRODUCER), remove_undeclared=True)
    assert add == []
    assert [b.principal for b in remove] == ["User:old-app"]


def test_keeping_undeclared_or_other_principals() -> None:
    current, desired = ka.parse_list(LISTING), ka.expand(PRODUCER)
    assert ka.plan(current, desired, remove_undeclared=False) == ([], [])
    assert ka.plan(current, desired, remove_undeclared=True, managed=["User:producer"]) == ([], [])


def test_missing_binding_is_added_with_one_command_per_resource() -> None:
    desired = ka.expand(PRODUCER + [{"principal": "User:connect", "resource_type": "group", "name": "connect-",
                                     "pattern": "prefixed", "operations": ["Read", "Describe"]}])
    add, _ = ka.plan(ka.parse_list(LISTING), desired, remove_undeclared=True)
    assert [b.text() for b in add] == ["ALLOW User:connect Describe on GROUP connect- (PREFIXED) from *",
                                       "ALLOW User:connect Read on GROUP connect- (PREFIXED) from *"]
    assert ka.commands(add, "add") == [[
        "--add", "--allow-principal", "User:connect", "--allow-host", "*", "--operation", "Describe",
        "--operation", "Read", "--group", "connect-", "--resource-pattern-type", "prefixed"]]


def test_removal_commands_are_forced_and_name_the_cluster() -> None:
    _, remove = ka.plan(ka.parse_list(LISTING), ka.expand(PRODUCER), remove_undeclared=True)
    assert ka.commands(remove, "remove") == [[
        "--remove", "--allow-principal", "User:old-app", "--allow-host", "*", "--operation", "DescribeConfigs",
        "--cluster", "--resource-pattern-type", "literal", "--force"]]


@pytest.mark.parametrize("entry,message", [
    ({"principal": "producer", "resource_type": "topic", "name": "t", "operations": ["Read"]},
     "acls[0].principal must look like User:name (got 'producer')"),
    ({"principal": "User:p", "resource_type": "table", "name": "t", "operations": ["Read"]},
     "acls[0].resource_type must be topic, group, cluster or transactional-id (got 'table')"),
    ({"principal": "User:p", "resource_type": "topic", "name": "t", "operations": ["Fly"]},
     "acls[0].operations: unknown operation 'Fly'"),
    ({"principal": "User:p", "resource_type": "topic", "name": "t", "pattern": "glob", "operations": ["Read"]},
     "acls[0].pattern must be literal or prefixed"),
    ({"principal": "User:p", "resource_type": "topic", "operations": ["Read"]},
     "acls[0].name must be set for resource_type topic"),
])
def test_bad_declarations_are_refused_by_field(entry: dict, message: str) -> None:
    with pytest.raises(ka.AclError) as exc:
        ka.expand([entry])
    assert message in str(exc.value)


def test_bindings_sharing_operations_are_merged_over_principals_and_names() -> None:
    desired = ka.expand([
        {"principal": "User:producer", "resource_type": "cluster", "operations": ["IdempotentWrite"]},
        {"principal": "User:bench", "resource_type": "cluster", "operations": ["IdempotentWrite"]},
        {"principal": "User:connect", "resource_type": "topic", "name": "bench-sink-", "pattern": "prefixed",
         "operations": ["Read", "Describe"]},
        {"principal": "User:connect", "resource_type": "topic", "name": "restart-probe-", "pattern": "prefixed",
         "operations": ["Read", "Describe"]},
    ])
    cmds = ka.commands(desired, "add")
    assert cmds == [
        ["--add", "--allow-principal", "User:bench", "--allow-principal", "User:producer", "--allow-host", "*",
         "--operation", "IdempotentWrite", "--cluster", "--resource-pattern-type", "literal"],
        ["--add", "--allow-principal", "User:connect", "--allow-host", "*", "--operation", "Describe",
         "--operation", "Read", "--topic", "bench-sink-", "--topic", "restart-probe-",
         "--resource-pattern-type", "prefixed"],
    ]


def test_merged_commands_cover_exactly_the_bindings() -> None:
    # Every command's principals × names × operations is a subset of the bindings, and together they are all.
    declared = ka.expand(PRODUCER + [
        {"principal": "User:bench", "resource_type": "topic", "name": "driver-locations", "operations": ["Write", "Describe"]},
        {"principal": "User:bench", "resource_type": "topic", "name": "bench-", "pattern": "prefixed",
         "operations": ["Write", "Describe", "Create"]},
        {"principal": "User:exporter", "resource_type": "topic", "name": "*", "operations": ["Describe"]},
    ])
    covered = set()
    for cmd in ka.commands(declared, "add"):
        principals = [cmd[i + 1] for i, a in enumerate(cmd) if a == "--allow-principal"]
        ops = [ka._norm_op(cmd[i + 1]) for i, a in enumerate(cmd) if a == "--operation"]
        names = [cmd[i + 1] for i, a in enumerate(cmd) if a == "--topic"] or ["kafka-cluster"]
        rtype = "TOPIC" if "--topic" in cmd else "CLUSTER"
        pattern = cmd[cmd.index("--resource-pattern-type") + 1].upper()
        for p in principals:
            for n in names:
                for o in ops:
                    b = ka.Binding(p, rtype, n, pattern, o, "ALLOW", "*")
                    assert b in declared, b
                    covered.add(b)
    assert covered == declared
