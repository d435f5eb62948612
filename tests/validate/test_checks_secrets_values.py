"""The secrets scan's second half: the actual values of the secrets file, wherever
they are pasted; and the names the apiVersions check gives an object."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from generator import loader, writer
from generator import repo as repository
from generator.render import layout
from generator.validate import runner
from generator.validate.base import Context
from generator.validate.checks import apiversions, secrets_scan
from support import copy

from . import failures, run

HAPROXY = "loadbalancers/haproxy1/haproxy.cfg"


def with_secrets(root: Path, **changes: object) -> None:
    inv = loader.check_file(root / layout.INVENTORY).inventory
    with writer.session(root) as disk:
        repository.write_secrets(disk, inv, replace(repository.read_secrets(root), **changes))


def paste(root: Path, text: str, path: str = HAPROXY) -> None:
    with (root / path).open("a") as f:
        f.write(f"# {text}\n")


@pytest.mark.parametrize(("length", "found"), [(secrets_scan.MIN_VALUE_LENGTH - 1, False), (secrets_scan.MIN_VALUE_LENGTH, True)])
def test_a_bgp_password_pasted_anywhere(reference: Path, tmp_path: Path, length: int, found: bool) -> None:
    """Values shorter than 8 characters would match ordinary words: only longer ones are looked for."""
    root = copy(reference, tmp_path)
    password = "Zq7" + "x" * (length - 3)
    with_secrets(root, bgp_passwords={"rtx": password})
    paste(root, f"password {password}")
    expected = {HAPROXY: f"line {(root / HAPROXY).read_text().count(chr(10))}: the value of bgpPasswords.rtx from {layout.SECRETS_FILE}"}
    assert failures(run(root, secrets_scan.jobs)) == (expected if found else {})


@pytest.mark.parametrize(("label", "field"), [("bootstrapToken", "bootstrap_token"), ("caCertHash", "ca_cert_hash")])
def test_each_value_of_the_secrets_file(reference: Path, tmp_path: Path, label: str, field: str) -> None:
    root = copy(reference, tmp_path)
    value = getattr(repository.read_secrets(root), field)
    paste(root, value)
    message = failures(run(root, secrets_scan.jobs))[HAPROXY]
    assert f"the value of {label} from {layout.SECRETS_FILE}" in message and value not in message


def test_an_unreadable_secrets_file_fails_and_the_patterns_are_still_applied(reference: Path, tmp_path: Path) -> None:
    root = copy(reference, tmp_path)
    (root / layout.SECRETS_FILE).write_text("bootstrapToken: [not, a, token]\n")
    paste(root, "-----BEGIN " + "RSA PRIVATE KEY-----")
    results = run(root, secrets_scan.jobs)
    failed = {r.file: r for r in results if not r.ok}
    assert sorted(failed) == [layout.SECRETS_FILE, HAPROXY]
    unreadable = failed[layout.SECRETS_FILE]
    assert unreadable.check == secrets_scan.CHECK
    assert "bootstrapToken: not a kubeadm token" in unreadable.message
    assert unreadable.hint == "the files were scanned for secret patterns only; make the secrets file readable to scan for its values too"
    assert failed[HAPROXY].message.endswith(": a private key")
    assert failed[HAPROXY].hint == f"remove it and keep secrets only in {layout.SECRETS_FILE} (git-ignored); rotate it if it was ever pushed"
    assert all(r.hint == "" and r.message == "" for r in results if r.ok)


def test_a_changed_secrets_file_is_scanned_again(reference: Path, tmp_path: Path) -> None:
    """The secrets file is an input of the cached check: a new value is looked for at once."""
    root = copy(reference, tmp_path)
    ctx = Context(root, loader.check_file(root / layout.INVENTORY).inventory, tmp_path / "cache")
    paste(root, "password Zq7-new-password")
    assert not [r for r in runner.run(ctx, factories=[secrets_scan.jobs]) if not r.ok]
    with_secrets(root, bgp_passwords={"rtx": "Zq7-new-password"})
    assert [r.file for r in runner.run(ctx, factories=[secrets_scan.jobs]) if not r.ok] == [HAPROXY]


@pytest.mark.parametrize(
    ("metadata", "named"),
    [
        ({"name": "rack0", "namespace": "kube-system"}, "cilium.io/v2alpha1 CiliumBGPPeeringPolicy kube-system/rack0"),
        ({"name": "rack0"}, "cilium.io/v2alpha1 CiliumBGPPeeringPolicy rack0"),
        ({"namespace": "kube-system"}, "cilium.io/v2alpha1 CiliumBGPPeeringPolicy kube-system/"),
        ({}, "cilium.io/v2alpha1 CiliumBGPPeeringPolicy"),
        (None, "cilium.io/v2alpha1 CiliumBGPPeeringPolicy"),
    ],
    ids=["namespaced", "cluster-wide", "no-name", "empty", "none"],
)
def test_a_removed_object_is_named_by_api_version_kind_and_name(metadata: dict | None, named: str) -> None:
    doc = "apiVersion: cilium.io/v2alpha1\nkind: CiliumBGPPeeringPolicy\n" + ("" if metadata is None else f"metadata: {metadata}\n".replace("'", ""))
    result = apiversions.check_manifests("bgp.yaml", doc, "1.19.6")
    assert result.message == f"{named}: removed in Cilium 1.19; Cilium 1.19.6 ignores it"
    assert result.hint == "use cilium.io/v2 CiliumBGPClusterConfig + CiliumBGPPeerConfig + CiliumBGPAdvertisement"
