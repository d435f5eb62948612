"""`clusterforge explain`: an answer for every file a repository holds, lines
explained by their topics and cluster.yaml values, topics in both languages,
exit 2 with the topics for anything unknown."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_golden import CASES  # tests/ is on sys.path (pytest prepends it for test_golden.py)

from generator import cli, loader, repo, scaffold
from generator.explain import answer, catalog, files, troubles
from generator.render import layout, tree

EXAMPLE = cli.example_text()


def repository(case: str) -> answer.Repository:
    """A repository as `new` makes it, in memory: the rendered tree and the template's files."""
    inv = loader.check_text(CASES[case], "cluster.yaml").inventory
    known = dict(tree.render(inv))
    known |= scaffold.skeleton_files(inv)
    known |= {layout.INVENTORY: CASES[case], scaffold.NOXFILE: "", layout.LOCK_FILE: "{}\n", layout.SECRETS_FILE: ""}
    return answer.Repository(inv, known, Path("/nonexistent"))


@pytest.mark.parametrize("case", sorted(CASES))
def test_every_file_of_the_repository_is_explained(case: str) -> None:
    repo_ = repository(case)
    assert sorted(files.template_files(repo_.inventory)) == sorted(set(repo_.tree) - set(tree.render(repo_.inventory)))
    for path, text in repo_.tree.items():
        info = files.describe(repo_.inventory, path)
        assert info is not None, f"{case}: no explanation for {path}"
        assert all(topic in catalog.BY_ID for topic in info.topics), path
        for language in catalog.LANGUAGES:
            whole = answer.explain(path, repo_, language)
            assert whole.startswith(f"{path}: {info.what(language)}"), path
            for number in {1, len(text.splitlines()) // 2 or 1, len(text.splitlines()) or 1}:
                if text.splitlines():
                    assert answer.explain(f"{path}:{number}", repo_, language).startswith(f"{path}:{number}: "), (path, number)


FULL = Path(__file__).parent / "data" / "full.yaml"
# Control planes only, pods from Cilium's multi-pool IPAM: what no other case renders.
NO_WORKERS = "\n".join(line for line in EXAMPLE.splitlines() if "role: worker" not in line).replace(
    "  hubble: true", "  hubble: true\n  ipam: multi-pool"
).replace("podCIDRs: true", "podCIDRs: false")


def test_every_topic_explains_some_file_and_every_marker_some_line() -> None:
    """No topic is unreachable from the files, and no marker is dead text."""
    named, seen = set(), set()
    inventories = [loader.check_text(text, "cluster.yaml").inventory for text in [*CASES.values(), FULL.read_text(), NO_WORKERS]]
    for inv in inventories:
        rendered = tree.render(inv)
        for path, text in rendered.items():
            named |= set(files.describe(inv, path).topics)
            for topic in catalog.TOPICS:
                seen |= {(topic.id, marker) for marker in topic.markers if marker in text}
    assert inventories[-1].cilium.ipam == "multi-pool" and not inventories[-1].workers
    assert {t.id for t in catalog.TOPICS} <= named
    assert {(t.id, m) for t in catalog.TOPICS for m in t.markers} == seen


def test_topic_and_trouble_ids_are_unique_and_plain() -> None:
    ids = answer.topic_ids()
    assert len(ids) == len(set(ids))
    assert all(i.replace("-", "").isalnum() and i.islower() for i in ids)


def test_a_line_names_its_topic_and_its_cluster_yaml_values() -> None:
    repo_ = repository("koedo-lab-flux")
    lb = repo_.inventory.loadbalancers[0]
    path = f"{layout.seed_dir(lb)}/user-data"
    number = next(i for i, line in enumerate(repo_.tree[path].splitlines(), 1) if "ip_nonlocal_bind" in line)
    text = answer.explain(f"{path}:{number}", repo_, "en")
    assert "(ip-nonlocal-bind)" in text and "kernel refuses to bind" in text
    keepalived = f"{layout.loadbalancer_dir(lb)}/keepalived.conf"
    number = next(i for i, line in enumerate(repo_.tree[keepalived].splitlines(), 1) if "unicast_src_ip" in line)
    text = answer.explain(f"{keepalived}:{number}", repo_, "en")
    index = repo_.inventory.nodes.index(lb)
    assert f"{lb.ip} = nodes[{index}].ip" in text and "(vrrp-unicast)" in text
    kubeadm = layout.kubeadm_file(repo_.inventory, repo_.inventory.control_planes[0])
    number = next(i for i, line in enumerate(repo_.tree[kubeadm].splitlines(), 1) if "kubernetesVersion" in line)
    assert f"{repo_.inventory.kubernetes.version} = kubernetes.version" in answer.explain(f"{kubeadm}:{number}", repo_, "en")


def test_the_topics_the_issue_names_are_there() -> None:
    for topic, words in {
        "kube-proxy-replacement": "kube-proxy",
        "vrrp-unicast": "multicast",
        "ip-nonlocal-bind": "ip_nonlocal_bind",
        "router-passive": "dials out",
        "systemd-cgroup": "systemd",
        "firewall": "10250",
    }.items():
        assert words in catalog.BY_ID[topic].why.en, topic
        assert catalog.BY_ID[topic].sources and all(url.startswith("https://") for url in catalog.BY_ID[topic].sources)


def test_japanese_answers(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    lab = tmp_path / "lab"
    repo.new(lab, EXAMPLE + "\ndocs:\n  language: ja\n")
    assert cli.main(["explain", "-C", str(lab), "ip-nonlocal-bind"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(catalog.BY_ID["ip-nonlocal-bind"].title.ja) and "カーネル" in out
    assert cli.main(["explain", "-C", str(lab), "--language", "en", "ip-nonlocal-bind"]) == 0
    assert capsys.readouterr().out.startswith("Why net.ipv4.ip_nonlocal_bind")


def test_cli_answers_paths_lines_topics_and_troubles(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    lab = tmp_path / "lab"
    repo.new(lab, EXAMPLE)
    assert cli.main(["explain", "-C", str(lab), "kubeadm/cp1-init.yaml"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("kubeadm/cp1-init.yaml: kubeadm config of cp1") and "(kube-proxy-replacement)" in out
    assert cli.main(["explain", "-C", str(lab), f"{lab}/kubeadm/cp1-init.yaml:1"]) == 0  # an absolute path inside it
    assert capsys.readouterr().out.startswith("kubeadm/cp1-init.yaml:1: ")
    assert cli.main(["explain", "-C", str(lab), "join-fails"]) == 0
    out = capsys.readouterr().out
    assert "sudo kubeadm token list" in out and "error downloading certs" in out
    assert cli.main(["explain", "-C", str(lab)]) == 0
    out = capsys.readouterr().out
    assert all(i in out for i in answer.topic_ids())
    assert cli.main(["explain", "-C", str(tmp_path / "no-repo"), "vrrp-unicast"]) == 0  # topics need no repository
    assert "multicast" in capsys.readouterr().out


@pytest.mark.parametrize(
    "target, message",
    [
        ("nodes/cp9/user-data", "'nodes/cp9/user-data' is neither a file of this repository nor a topic"),
        ("kube-proxy", "one of these topics: kube-proxy-replacement, vrrp-unicast"),
        ("../etc/passwd", "is neither a file of this repository nor a topic"),
        ("README.md:100000", "README.md has "),
        ("README.md:0", "line 0 is not one of them"),
        (".clusterforge/secrets.yaml:1", "secrets.yaml has 0 lines"),  # never prints a secret
    ],
)
def test_unknown_targets_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str], target: str, message: str) -> None:
    lab = tmp_path / "lab"
    repo.new(lab, EXAMPLE)
    assert cli.main(["explain", "-C", str(lab), target]) == 2
    captured = capsys.readouterr()
    assert message in captured.err and captured.out == ""


def test_a_path_without_a_repository_is_unknown(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["explain", "-C", str(tmp_path), "README.md"]) == 2
    assert "neither a file of this repository nor a topic" in capsys.readouterr().err


def test_troubles_name_their_background_topics() -> None:
    for trouble in troubles.TROUBLES:
        assert all(topic in catalog.BY_ID for topic in trouble.topics), trouble.id


def test_a_cluster_yaml_line_names_its_fields_and_their_topics() -> None:
    repo_ = repository("koedo-lab-flux")
    text = repo_.tree[layout.INVENTORY]
    number = next(i for i, line in enumerate(text.splitlines(), 1) if "kubeProxyReplacement" in line)
    answer_ = answer.explain(f"{layout.INVENTORY}:{number}", repo_, "en")
    assert "cilium.kubeProxyReplacement: Cilium replaces kube-proxy" in answer_ and "(kube-proxy-replacement)" in answer_
    worker = next(i for i, line in enumerate(text.splitlines(), 1) if "name: worker1" in line)
    answer_ = answer.explain(f"{layout.INVENTORY}:{worker}", repo_, "en")
    assert "nodes[3].ip: Static address in network.subnet." in answer_
    assert "(bgp-sessions)" in answer_ and "(vrrp-unicast)" not in answer_  # a topic of load balancers' addresses only
    assert "frr-ebgp-policy" not in answer.explain(f"{layout.INVENTORY}:{next(i for i, line in enumerate(text.splitlines(), 1) if 'localASN' in line)}", repo_, "en")


def test_the_runbooks_plan_wrote_are_explained_and_nothing_is_read_through_a_link(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    lab = tmp_path / "lab"
    repo.new(lab, EXAMPLE)
    worker3 = "  - {name: worker3,  role: worker,        ip: 192.168.100.98, host: nuc3}\n"
    (lab / "cluster.yaml").write_text(EXAMPLE.replace(worker3, worker3 + worker3.replace("worker3", "worker4").replace(".98", ".99")))
    assert cli.main(["plan", "-C", str(lab)]) == 0
    capsys.readouterr()
    runbook = "docs/runbooks/add-node-worker4.md"
    assert layout.CHANGE_RUNBOOK.fullmatch(runbook) and not layout.CHANGE_RUNBOOK.fullmatch(layout.runbook("restore-etcd"))
    assert cli.main(["explain", "-C", str(lab), runbook]) == 0
    assert capsys.readouterr().out.startswith(f"{runbook}: The runbook of one change, written by `clusterforge plan`")
    assert cli.main(["explain", "-C", str(lab), f"{runbook}:1"]) == 0
    assert capsys.readouterr().out.startswith(f"{runbook}:1: # Add worker worker4")
    # A folder that is a link is not the repository's: what is behind it is never read.
    outside = tmp_path / "outside"
    (lab / "docs/runbooks").rename(outside)
    (lab / "docs/runbooks").symlink_to(outside)
    (lab / "cluster.yaml").rename(tmp_path / "cluster.yaml")
    (lab / "cluster.yaml").symlink_to(tmp_path / "cluster.yaml")
    repository = answer.open_repository(lab)
    assert repository is not None and runbook not in repository.tree and layout.INVENTORY not in repository.tree
    assert cli.main(["explain", "-C", str(lab), runbook]) == 2
