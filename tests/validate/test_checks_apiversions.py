"""Objects of a kind/apiVersion the cluster's Cilium removed fail, named with the
Cilium version that removed them; the same object passes on a Cilium that still serves it."""

from __future__ import annotations

from pathlib import Path

import pytest

from generator import repo as repository
from generator.validate import runner
from generator.validate.base import Context, Result
from generator.validate.checks import apiversions, kubeconform
from support import copy, edit

from . import EXAMPLE, NeedTool, example_repo, failures, run

CONFIGS = "infrastructure/configs"
PEERING_POLICY = """\
apiVersion: cilium.io/v2alpha1
kind: CiliumBGPPeeringPolicy
metadata:
  name: rack0
spec:
  nodeSelector:
    matchLabels:
      kubernetes.io/os: linux
  virtualRouters:
    - localASN: 64512
      exportPodCIDR: false
      neighbors:
        - peerAddress: 192.168.100.1/32
          peerASN: 64512
"""


def add_peering_policy(root: Path) -> None:
    (root / CONFIGS / "bgp-peering-policy.yaml").write_text(PEERING_POLICY)
    edit(root, f"{CONFIGS}/kustomization.yaml", "  - lb-ippools.yaml", "  - lb-ippools.yaml\n  - bgp-peering-policy.yaml")


@pytest.fixture(scope="module")
def cilium_118(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The reference repository rendered for Cilium 1.18.12 on Kubernetes 1.33 (a combination 1.18 is tested with)."""
    text = EXAMPLE.read_text(encoding="utf-8")
    # One edit spanning both versions, as example_repo takes a single replacement.
    start, end = text.index('  version: "1.35.4"'), text.index("  version: 1.19.6") + len("  version: 1.19.6")
    span = text[start:end]
    return example_repo(tmp_path_factory.mktemp("cilium118") / "lab", replace=(span, span.replace('"1.35.4"', '"1.33.5"').replace("1.19.6", "1.18.12")))


# --- the table ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("api_version", "kind", "cilium", "removed"),
    [
        ("cilium.io/v2alpha1", "CiliumBGPPeeringPolicy", "1.18.12", False),
        ("cilium.io/v2alpha1", "CiliumBGPPeeringPolicy", "1.19.0", True),
        ("cilium.io/v2alpha1", "CiliumBGPPeeringPolicy", "1.20.0", True),
        ("cilium.io/v2", "CiliumBGPClusterConfig", "1.20.0", False),
        ("cilium.io/v2alpha1", "CiliumBGPClusterConfig", "1.20.0", False),  # deprecated, still served
        ("cilium.io/v2alpha1", "CiliumLoadBalancerIPPool", "1.19.6", False),  # deprecated, still served
        ("cilium.io/v2alpha1", "CiliumL2AnnouncementPolicy", "1.20.0", False),
        ("other.io/v2alpha1", "CiliumBGPPeeringPolicy", "1.20.0", False),  # another group's kind of that name
    ],
)
def test_removal_depends_on_group_version_kind_and_the_cilium_minor(api_version: str, kind: str, cilium: str, removed: bool) -> None:
    doc = {"apiVersion": api_version, "kind": kind, "metadata": {"name": "x"}}
    assert (apiversions.removal(doc, cilium) is not None) == removed


def test_every_removed_object_of_a_stream_is_named_once_with_its_replacement() -> None:
    other = PEERING_POLICY.replace("name: rack0", "name: rack1")
    pool = "apiVersion: cilium.io/v2\nkind: CiliumLoadBalancerIPPool\nmetadata: {name: default}\nspec: {blocks: []}\n"
    result = apiversions.check_manifests("apps/bgp.yaml", f"{PEERING_POLICY}---\n{pool}---\n{other}", "1.19.6")
    assert not result.ok and result.file == "apps/bgp.yaml"
    assert result.message.splitlines() == [
        "cilium.io/v2alpha1 CiliumBGPPeeringPolicy rack0: removed in Cilium 1.19; Cilium 1.19.6 ignores it",
        "cilium.io/v2alpha1 CiliumBGPPeeringPolicy rack1: removed in Cilium 1.19; Cilium 1.19.6 ignores it",
    ]
    assert result.hint == "use cilium.io/v2 CiliumBGPClusterConfig + CiliumBGPPeerConfig + CiliumBGPAdvertisement"


# --- the check on rendered repositories ----------------------------------------------------


@pytest.mark.tools
def test_reference_repository_passes(need_tool: NeedTool, reference: Path) -> None:
    need_tool("kustomize")
    results = run(reference, apiversions.jobs)
    assert [(r.file, r.ok) for r in results] == [
        ("clusters/koedo-lab/infrastructure.yaml", True),
        ("infrastructure/controllers", True),
        (CONFIGS, True),
    ], results


@pytest.mark.tools
def test_argocd_repository_passes_file_by_file(need_tool: NeedTool, tmp_path: Path) -> None:
    need_tool("kustomize")
    results = run(example_repo(tmp_path / "lab", engine="argocd"), apiversions.jobs)
    assert "argocd/root.yaml" in {r.file for r in results}
    assert failures(results) == {}


@pytest.mark.tools
def test_a_removed_kind_fails_its_unit(need_tool: NeedTool, reference: Path, tmp_path: Path) -> None:
    need_tool("kustomize")
    root = copy(reference, tmp_path)
    add_peering_policy(root)
    results = run(root, apiversions.jobs)
    failed = [r for r in results if not r.ok]
    assert [r.file for r in failed] == [CONFIGS]
    assert "cilium.io/v2alpha1 CiliumBGPPeeringPolicy rack0: removed in Cilium 1.19" in failed[0].message
    assert "CiliumBGPClusterConfig" in failed[0].hint
    assert all(r.ok for r in results if r.file != CONFIGS)


@pytest.mark.tools
def test_the_same_object_passes_where_cilium_still_serves_it(need_tool: NeedTool, cilium_118: Path, tmp_path: Path) -> None:
    need_tool("kustomize")
    root = copy(cilium_118, tmp_path)
    add_peering_policy(root)
    results = run(root, apiversions.jobs)
    assert CONFIGS in {r.file for r in results}
    assert failures(results) == {}


@pytest.mark.tools
def test_a_unit_that_does_not_build_fails(need_tool: NeedTool, reference: Path, tmp_path: Path) -> None:
    need_tool("kustomize")
    root = copy(reference, tmp_path)
    edit(root, f"{CONFIGS}/kustomization.yaml", "  - lb-ippools.yaml", "  - lb-ippools.yaml\n  - missing.yaml")
    assert list(failures(run(root, apiversions.jobs))) == [CONFIGS]


def test_the_cache_key_follows_the_cilium_version(reference: Path) -> None:
    inv = repository.load(reference).inventory
    older = inv.model_copy(update={"cilium": inv.cilium.model_copy(update={"version": "1.18.12"})})
    keys = [
        {runner.cache_key(job, reference) for job in apiversions.jobs(Context(reference, i, reference.parent / "cache"))}
        for i in (inv, older)
    ]
    assert len(keys[0]) == 3 and keys[0].isdisjoint(keys[1])


# --- results whole ---------------------------------------------------------------------------


def test_check_manifests_results_whole() -> None:
    pool = "apiVersion: cilium.io/v2\nkind: CiliumLoadBalancerIPPool\nmetadata: {name: default}\nspec: {blocks: []}\n"
    assert apiversions.check_manifests("apps/pool.yaml", pool, "1.19.6") == Result(apiversions.CHECK, "apps/pool.yaml", True)
    namespaced = PEERING_POLICY.replace("  name: rack0\n", "  name: rack0\n  namespace: kube-system\n")
    assert apiversions.check_manifests("apps/bgp.yaml", namespaced, "1.19.6") == Result(
        apiversions.CHECK, "apps/bgp.yaml", False,
        "cilium.io/v2alpha1 CiliumBGPPeeringPolicy kube-system/rack0: removed in Cilium 1.19; Cilium 1.19.6 ignores it",
        "use cilium.io/v2 CiliumBGPClusterConfig + CiliumBGPPeerConfig + CiliumBGPAdvertisement",
    )
    [unreadable] = [apiversions.check_manifests("apps/x.yaml", "a: [\n", "1.19.6")]
    assert (unreadable.check, unreadable.file, unreadable.ok, unreadable.hint) == (apiversions.CHECK, "apps/x.yaml", False, "")
    assert unreadable.message.startswith("its objects cannot be read: apps/x.yaml")  # the stream's label names it


def test_describe_objects() -> None:
    assert apiversions._describe({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}}) == "v1 ConfigMap x"
    assert apiversions._describe({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x", "namespace": "ns"}}) == "v1 ConfigMap ns/x"
    assert apiversions._describe({"apiVersion": "v1", "kind": "ConfigMap"}) == "v1 ConfigMap"


@pytest.mark.tools
def test_a_unit_that_does_not_build_fails_whole(need_tool: NeedTool, reference: Path, tmp_path: Path) -> None:
    need_tool("kustomize")
    root = copy(reference, tmp_path)
    edit(root, f"{CONFIGS}/kustomization.yaml", "  - lb-ippools.yaml", "  - lb-ippools.yaml\n  - missing.yaml")
    ctx = Context(root, repository.load(root).inventory, tmp_path / "cache")
    jobs = {j.extra_key.rsplit("; ", 1)[-1]: j for j in apiversions.jobs(ctx)}
    job = jobs[CONFIGS]
    assert (job.check, job.inputs, job.tool_version) == (apiversions.CHECK, ctx.discovery.units[-1].files, kubeconform.tool_version("kustomize"))
    assert job.extra_key == f"cilium 1.19.6; table {apiversions.TABLE_KEY}; {CONFIGS}"
    assert job.run() == [Result(apiversions.CHECK, CONFIGS, False, "kustomize build fails: its objects cannot be read", "fix the `kustomize build` error of this unit")]
