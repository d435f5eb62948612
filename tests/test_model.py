"""The inventory format: the reference example, the JSON Schema and an inventory
that sets every optional field."""

from __future__ import annotations

import io
import json
import os
import re
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from generator import loader, rules, yamlio
from generator.cli import main
from generator.errors import InventoryError
from generator.model import Inventory, Spec

ROOT = Path(__file__).parents[1]
EXAMPLE = ROOT / "generator" / "data" / "cluster.example.yaml"
DESIGN_EXAMPLE = ROOT.parent / "shared" / "design" / "cluster.example.yaml"
FULL = Path(__file__).parent / "data" / "full.yaml"


def run(*argv: str) -> tuple[int, str]:
    out = io.StringIO()
    code = main(list(argv), out=out)
    return code, out.getvalue()


def as_json(path: Path) -> Any:
    """The YAML file as plain JSON data (what an editor's schema validator sees)."""
    return json.loads(json.dumps(yamlio.loader().load(path.read_text(encoding="utf-8"))))


# --- the reference inventory ---------------------------------------------------


def test_example_loads_without_warnings() -> None:
    checked = loader.check_file(EXAMPLE)
    assert checked.warnings == []
    inv = checked.inventory
    assert (inv.name, len(inv.control_planes), len(inv.workers), len(inv.loadbalancers)) == ("koedo-lab", 3, 3, 2)


def test_check_example(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", str(EXAMPLE)]) == 0
    captured = capsys.readouterr()
    assert captured.err == ""
    assert captured.out.startswith(f"{EXAMPLE}: cluster koedo-lab is valid\n")


# Issue 9: Yamaha documents no iBGP neighbour, so the embedded example peers eBGP
# with the router's own private AS; that one line is the only departure from the
# design's contract, which must still load (with the warning that explains why).
EBGP_LINE = "      asn: 64513               # eBGP: the router's own private AS (RTX documents no iBGP)\n"
DESIGN_LINE = "      asn: 64512               # iBGP with the home router\n"


def _design_example() -> Path:
    if not DESIGN_EXAMPLE.exists():
        if os.environ.get("CI"):
            pytest.fail(f"{DESIGN_EXAMPLE} is missing: CI must provide ../shared")
        pytest.skip(f"{DESIGN_EXAMPLE} is not here (../shared not checked out)")
    return DESIGN_EXAMPLE


def test_example_is_the_design_example_but_for_ebgp() -> None:
    """The embedded example is the contract in ../shared/design, byte for byte, but for the router's AS."""
    design = _design_example().read_text(encoding="utf-8")
    assert design.count(DESIGN_LINE) == 1
    assert EXAMPLE.read_text(encoding="utf-8") == design.replace(DESIGN_LINE, EBGP_LINE)


def test_design_example_still_loads_and_says_why_ibgp_to_rtx_is_risky() -> None:
    checked = loader.check_file(_design_example())
    assert [w.path for w in checked.warnings] == ["bgp.peers[0].asn"]
    assert "iBGP" in checked.warnings[0].message


def test_example_command_prints_the_example() -> None:
    assert run("example") == (0, EXAMPLE.read_text(encoding="utf-8"))


# --- the JSON Schema -----------------------------------------------------------


@pytest.fixture(scope="module")
def schema() -> dict[str, Any]:
    code, text = run("schema")
    assert code == 0
    return json.loads(text)


def _objects(node: Any) -> list[dict[str, Any]]:
    """Every schema object that describes a mapping with properties."""
    found = []
    if isinstance(node, dict):
        if node.get("type") == "object" and "properties" in node:
            found.append(node)
        for value in node.values():
            found += _objects(value)
    elif isinstance(node, list):
        for value in node:
            found += _objects(value)
    return found


def test_schema_covers_the_example(schema: dict[str, Any]) -> None:
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert set(as_json(EXAMPLE)) <= set(schema["properties"])
    assert set(schema["required"]) <= set(as_json(EXAMPLE))


def test_schema_forbids_unknown_keys(schema: dict[str, Any]) -> None:
    objects = _objects(schema)
    assert len(objects) == len(Spec.__subclasses__())  # the top level and every section
    assert [o.get("title") for o in objects if o.get("additionalProperties") is not False] == []


@pytest.mark.parametrize("path", [EXAMPLE, FULL], ids=["example", "full"])
def test_schema_validates(schema: dict[str, Any], path: Path) -> None:
    jsonschema = pytest.importorskip("jsonschema", reason="jsonschema is not a dependency; install it to check the schema")
    jsonschema.Draft202012Validator.check_schema(schema)
    jsonschema.Draft202012Validator(schema).validate(as_json(path))


def test_schema_states_every_limit(schema: dict[str, Any]) -> None:
    """Each bounded list or mapping says its limit where editors show it: in its description."""
    bounded = [(name, field) for o in _objects(schema) for name, field in o["properties"].items() if "maxItems" in field or "maxProperties" in field]
    assert len(bounded) == 11
    for name, field in bounded:
        limit = field.get("maxItems", field.get("maxProperties"))
        assert f"at most {limit}" in field.get("description", ""), name


def test_schema_rejects_an_unknown_key(schema: dict[str, Any]) -> None:
    jsonschema = pytest.importorskip("jsonschema", reason="jsonschema is not a dependency; install it to check the schema")
    data = as_json(EXAMPLE)
    data["nodes"][0]["ipAddress"] = data["nodes"][0]["ip"]
    with pytest.raises(jsonschema.ValidationError, match="ipAddress"):
        jsonschema.Draft202012Validator(schema).validate(data)


# --- an inventory that sets every optional field -------------------------------


def _fields_set(model: BaseModel, found: set[str]) -> set[str]:
    """`Class.field` for every field the file sets, in `model` and every model below it."""
    for name in model.model_fields_set:
        found.add(f"{type(model).__name__}.{name}")
        value = getattr(model, name)
        for item in value if isinstance(value, list) else [value]:
            if isinstance(item, BaseModel):
                _fields_set(item, found)
    return found


def test_full_inventory_loads_cleanly(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", str(FULL)]) == 0
    assert capsys.readouterr().err == ""
    checked = loader.check_file(FULL)
    assert checked.warnings == []
    inv = checked.inventory
    assert inv.bgp is not None
    assert {p.router for p in inv.bgp.peers} == {"frr", "bird", "yamaha-rtx"}
    assert [p.asn == inv.bgp.local_asn for p in inv.bgp.peers] == [True, False, False]  # iBGP and eBGP
    assert inv.nodes[0].mac == "52:54:00:0a:00:0b"  # normalised to lower case


def test_full_inventory_sets_every_field() -> None:
    """When a field is added to the model, set it in tests/data/full.yaml too."""
    every = {f"{cls.__name__}.{name}" for cls in Spec.__subclasses__() for name in cls.model_fields}
    assert sorted(every - _fields_set(loader.check_file(FULL).inventory, set())) == []


def test_model_round_trips() -> None:
    """Dumping by alias and loading again gives the same inventory (the schema's key names are the YAML's)."""
    for path in (EXAMPLE, FULL):
        inv = loader.check_file(path).inventory
        assert Inventory.model_validate(inv.model_dump(by_alias=True)) == inv


# --- whole strings, ASCII only -------------------------------------------------

def _get(data: Any, path: tuple[str | int, ...]) -> Any:
    for step in path:
        data = data[step]
    return data


def _with(data: Any, path: tuple[str | int, ...], value: Any) -> Any:
    changed = json.loads(json.dumps(data))
    _get(changed, path[:-1])[path[-1]] = value
    return changed


def refused_at(data: Any) -> list[str]:
    """The field paths `check` names for an inventory it must refuse (without the name
    it gives a node: `nodes[0] (cp1).ip` is `nodes[0].ip` here)."""
    with pytest.raises(InventoryError) as refused:
        loader.check_text(yamlio.dump(data))
    return [re.sub(r"^(nodes\[[0-9]+\]) \([-a-z0-9]+\)", r"\1", problem.path) for problem in refused.value.problems]


def _strings(node: Any, path: tuple[str | int, ...] = ()) -> list[tuple[str | int, ...]]:
    """The path of every string value in the data."""
    if isinstance(node, dict):
        return [p for key, value in node.items() for p in _strings(value, (*path, key))]
    if isinstance(node, list):
        return [p for index, value in enumerate(node) for p in _strings(value, (*path, index))]
    return [path] if isinstance(node, str) else []


# Every string field of the inventory that sets them all (enums included: they compare whole strings too).
STRING_FIELDS = _strings(as_json(FULL))


def _last_digit_non_ascii(value: str) -> str:
    """The value with its last ASCII digit written in Arabic-Indic digits (which `\\d` matches)."""
    at = max(i for i, c in enumerate(value) if c in "0123456789")
    return value[:at] + chr(0x660 + int(value[at])) + value[at + 1 :]


@pytest.mark.parametrize("path", STRING_FIELDS, ids=rules.show_path)
def test_trailing_newline_is_refused(path: tuple[str | int, ...]) -> None:
    data = as_json(FULL)
    assert rules.show_path(path) in refused_at(_with(data, path, _get(data, path) + "\n"))


@pytest.mark.parametrize("path", [p for p in STRING_FIELDS if any(c.isdigit() for c in _get(as_json(FULL), p))], ids=rules.show_path)
def test_non_ascii_digit_is_refused(path: tuple[str | int, ...]) -> None:
    data = as_json(FULL)
    assert rules.show_path(path) in refused_at(_with(data, path, _last_digit_non_ascii(_get(data, path))))


@pytest.mark.parametrize("version", ["1.٣٥.4", "١.35.4", "1.35.４"])
def test_version_digits_are_ascii(version: str) -> None:
    assert refused_at(_with(as_json(FULL), ("kubernetes", "version"), version)) == ["kubernetes.version"]


def test_domain_label_is_at_most_63_characters() -> None:
    assert refused_at(_with(as_json(FULL), ("network", "domain"), "a" * 64 + ".example.org")) == ["network.domain"]
    assert loader.check_text(yamlio.dump(_with(as_json(FULL), ("network", "domain"), "a" * 63 + ".example.org")))


# --- SSH public keys -------------------------------------------------------------

# Made with `ssh-keygen -t TYPE -C test@TYPE` for these tests (their private halves are gone).
REAL_PUBLIC_KEYS = [
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIEwKTQZub6/tqarvolJRPQX/7xDuCwusCBdwcPsW2UfJ test@ed25519",
    "ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBKCCRvtyxt0FOZAX5eajmJltXgUBDY9YD44iUz09CWO8QJA/Hl7WYy2yc+U4LZ2EGp5a4WW5LY/CHYgthPixcOA= test@ecdsa",
    "ecdsa-sha2-nistp521 AAAAE2VjZHNhLXNoYTItbmlzdHA1MjEAAAAIbmlzdHA1MjEAAACFBAG+K5DIsuF8huV31xqu2sc4RZuZNvEo80zxv9LZdJ5gq/Vpo41bvh/++P33b/2I3ilZW0rP0bae9VfbCoDir1HFzAGQZKflEn/5gxqQQKBqcSQos7YnPnV93Ki9nmuShA6T1TkPQK49+v2HP3ZXblv4AGpyiwSIhCY/uU54+UA49HKCDA== test@ecdsa521",
    "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAAAgQCto9jY117aEQhB+lQvP8xX2wJQk0cVXLZrdqR6PA0rhbCT8vW1J+wj8PbUolphjqIItG9BIoYkXmGY/YFkA+n5JTX8+zWKd0LcilyRHH8APY6c6o6tencQQRhibTfOT1bJoD5Fv05phLgtlHI3D1bVtaJ0z0K3wpQ3YZbDx5TxQw== test@rsa",
]


@pytest.mark.parametrize("key", REAL_PUBLIC_KEYS + [REAL_PUBLIC_KEYS[0].replace("test@ed25519", "管理者 の ノート PC")], ids=lambda k: k.split()[-1])
def test_ssh_public_keys_are_accepted(key: str) -> None:
    """ssh-keygen's own output, and a comment in any script (it is free text on one line)."""
    inv = loader.check_text(yamlio.dump(_with(as_json(FULL), ("ssh", "authorizedKeys"), [key]))).inventory
    assert inv.ssh.authorized_keys == [key]


def test_ssh_key_unpadded_base64_is_accepted() -> None:
    """OpenSSH pads its base64, but the '=' it leaves out are unambiguous (the reference example has none)."""
    unpadded = REAL_PUBLIC_KEYS[1].replace("= test@", " test@")
    assert loader.check_text(yamlio.dump(_with(as_json(FULL), ("ssh", "authorizedKeys"), [unpadded])))
    overpadded = REAL_PUBLIC_KEYS[1].replace("= test@", "=== test@")
    assert refused_at(_with(as_json(FULL), ("ssh", "authorizedKeys"), [overpadded])) == ["ssh.authorizedKeys[0]"]


def test_ssh_key_message_quotes_a_short_excerpt() -> None:
    """A multi-line entry is never echoed back whole: the message stays one short line."""
    hostile = REAL_PUBLIC_KEYS[0] + "\n" + "ssh-ed25519 AAAA" * 400
    with pytest.raises(InventoryError) as refused:
        loader.check_text(yamlio.dump(_with(as_json(FULL), ("ssh", "authorizedKeys"), [REAL_PUBLIC_KEYS[1], hostile])))
    [problem] = refused.value.problems
    assert problem.path == "ssh.authorizedKeys[1]"
    assert "\n" not in str(problem) and len(str(problem)) < 250
    assert str(problem).endswith("an entry is one key on one line ('ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIEwKTQZub6/tqarvolJRPQX/7xDu'... (6494 characters))")


# --- git URLs and branches, Kubernetes labels --------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "https://git.example.org/ops/rack-full.git",
        "http://192.168.1.5:3000/ops/rack.git",
        "ssh://git@github.com/example/koedo-lab.git",
        "ssh://git@[2001:db8::1]:2222/srv/git/rack.git",
        "https://dev.azure.com/org/project/_git/rack%20full",
        "git@github.com:example/koedo-lab.git",  # scp-like: Argo CD takes it (full.yaml is Argo CD)
    ],
)
def test_git_urls_are_accepted(url: str) -> None:
    assert loader.check_text(yamlio.dump(_with(as_json(FULL), ("gitops", "repository"), url))).inventory.gitops.repository == url


@pytest.mark.parametrize("url", ["https://github.com", "ftp://example.org/x.git", "ssh://git@host:0/x.git", "ssh://git@host:99999/x.git", "file:///srv/x.git", "-x@host:path"])
def test_git_urls_are_refused(url: str) -> None:
    assert refused_at(_with(as_json(FULL), ("gitops", "repository"), url)) == ["gitops.repository"]


@pytest.mark.parametrize("branch", ["main", "release/1.35", "feature/x-y_z", "v1.2.3", "a.b", "$(reboot)"])
def test_git_branches_are_accepted(branch: str) -> None:
    """Git's rules, no more: shell syntax git allows is quoted where it is used."""
    assert loader.check_text(yamlio.dump(_with(as_json(FULL), ("gitops", "branch"), branch))).inventory.gitops.branch == branch


@pytest.mark.parametrize(
    "branch",
    ["", "a b", "a~1", "a^", "a:b", "a?", "a*", "a[", "a\\b", "/a", "a/", "a//b", "a.", "a/.b", ".a", "a.lock", "a..b", "a@{1}", "@", "HEAD", "-a", "a\x7fb", "ブランチ", "b" * 256],
)
def test_git_branches_are_refused(branch: str) -> None:
    """The rules of `git check-ref-format --branch`, and printable ASCII."""
    assert refused_at(_with(as_json(FULL), ("gitops", "branch"), branch)) == ["gitops.branch"]


@pytest.mark.parametrize(
    ("key", "value"),
    [("app", "web"), ("app.kubernetes.io/name", "web"), ("a" * 63, "b" * 63), ("example.org/" + "c" * 63, ""), ("Tier_1.x", "A-b_c.D")],
)
def test_label_selectors_are_accepted(key: str, value: str) -> None:
    data = _with(as_json(FULL), ("loadBalancerPools", 0, "serviceSelector"), {key: value})
    assert loader.check_text(yamlio.dump(data)).inventory.load_balancer_pools[0].service_selector == {key: value}


@pytest.mark.parametrize(
    ("key", "value"),
    [("a" * 64, "x"), ("", "x"), ("-a", "x"), ("a/b/c", "x"), ("Example.org/a", "x"), ("/a", "x"), ("a/", "x"), ("app", "b" * 64), ("app", "-x"), ("app", "a b"), ("app", "ä")],
)
def test_label_selectors_are_refused(key: str, value: str) -> None:
    data = _with(as_json(FULL), ("loadBalancerPools", 0, "serviceSelector"), {key: value})
    assert refused_at(data) == [rules.show_path(("loadBalancerPools", 0, "serviceSelector", key))]


# --- certificate names, interface names, age recipients ------------------------------


@pytest.mark.parametrize("san", ["kube.example.org", "localhost", "203.0.113.10", "k8s-api.internal", "a" * 63 + ".example.org"])
def test_cert_sans_are_accepted(san: str) -> None:
    assert loader.check_text(yamlio.dump(_with(as_json(FULL), ("apiServer", "extraCertSans"), [san]))).inventory.api_server.extra_cert_sans == [san]


@pytest.mark.parametrize("san", ["$(reboot)", "a b", "", "*.example.org", "Kube.example.org", "1.2.3", "256.1.1.1", "10.0.0.1/24", "::1", "a..b", "-a.org"])
def test_cert_sans_are_refused(san: str) -> None:
    assert refused_at(_with(as_json(FULL), ("apiServer", "extraCertSans"), [san])) == ["apiServer.extraCertSans[0]"]


@pytest.mark.parametrize("name", [".", "..", "", "a" * 16, "eth 0", "eth0/1", "eth:0"])
def test_interface_names_are_refused(name: str) -> None:
    """What the kernel's dev_valid_name() refuses, and ':' (an alias label, not a name)."""
    assert refused_at(_with(as_json(FULL), ("network", "interface"), name)) == ["network.interface"]


# The recipient of age's README, and the one tests/data/full.yaml uses (a made-up key, a correct checksum).
AGE_RECIPIENTS = ["age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p", "age1qyqszqgpqyqszqgpqyqszqgpqyqszqgpqyqszqgpqyqszqgpqyqs3290gq"]


@pytest.mark.parametrize("recipient", AGE_RECIPIENTS)
def test_age_recipients_are_accepted(recipient: str) -> None:
    assert loader.check_text(yamlio.dump(_with(as_json(FULL), ("secrets", "ageRecipients"), [recipient])))


@pytest.mark.parametrize("position", [4, 20, 61])
def test_age_recipient_with_a_changed_character_is_refused(position: int) -> None:
    """bech32's checksum catches any one changed character."""
    for recipient in AGE_RECIPIENTS:
        replacement = "q" if recipient[position] != "q" else "p"
        changed = recipient[:position] + replacement + recipient[position + 1 :]
        assert refused_at(_with(as_json(FULL), ("secrets", "ageRecipients"), [changed])) == ["secrets.ageRecipients[0]"]
