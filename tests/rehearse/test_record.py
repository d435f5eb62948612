"""`clusterforge simulate` takes which node speaks to which peer from the CiliumBGPNodeConfig
objects Cilium's operator computed when a rehearsal of exactly these files has run (and
says so), else from its own translation of the rendered objects."""

from __future__ import annotations

from ipaddress import IPv4Address
from pathlib import Path

import pytest

from generator import cli, repo
from generator.rehearse import record
from generator.render import layout
from generator.simulate import speakers, twin
from generator.validate import caches

PEER = {"name": "rtx1220", "peerAddress": "192.168.100.1", "peerASN": 64513, "peerConfigRef": {"name": "rtx1220"}}


def node_config(name: str) -> dict:
    return {"metadata": {"name": name}, "spec": {"bgpInstances": [{"name": "instance-64512", "localASN": 64512, "peers": [PEER]}]}}


@pytest.fixture
def lab(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv(caches.CACHE_ENV, str(tmp_path / "cache"))
    root = tmp_path / "lab"
    repo.new(root, cli.example_text())
    return root


def plan(root: Path) -> tuple[speakers.SpeakerPlan, twin.Twin]:
    sim = twin.build(repo.load(root).inventory)
    return speakers.plan(twin.Sources(root, sim)), sim


def test_without_a_rehearsal_the_rendered_objects_are_translated(lab: Path) -> None:
    found, _ = plan(lab)
    assert found.source == speakers.SOURCE
    assert len(found.speakers) == 6


def test_the_operators_node_configs_decide_who_speaks_to_whom(lab: Path) -> None:
    saved = record.save(lab, [node_config("cp1"), node_config("worker2")])
    found, sim = plan(lab)
    assert found.source == speakers.REHEARSED.format(record=saved)
    assert [s.node.name for s in found.speakers] == ["cp1", "worker2"]
    (session,) = found.speakers[0].sessions
    # The operator's real peer address, as the twin's simulated one; timers from the peer config.
    assert session.address == sim.sim(IPv4Address("192.168.100.1")) and session.peer_asn == 64513
    assert (session.hold, session.keepalive) == (90, 30)


def test_an_edited_input_file_sets_the_rehearsal_aside(lab: Path) -> None:
    record.save(lab, [node_config("cp1")])
    (lab / layout.CILIUM_BGP).write_text((lab / layout.CILIUM_BGP).read_text() + "# edited\n")
    assert plan(lab)[0].source == speakers.SOURCE


@pytest.mark.parametrize("text", ["not json", '{"nodeConfigs": [{"name": 1, "spec": {}}]}', '{"nodeConfigs": {}}', "[]"])
def test_a_damaged_record_is_not_used(lab: Path, text: str) -> None:
    path = record.save(lab, [node_config("cp1")])
    path.write_text(text)
    assert record.load(lab) is None
    assert plan(lab)[0].source == speakers.SOURCE
