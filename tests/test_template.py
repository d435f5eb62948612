"""The cookiecutter template: through cookiecutter's API, the plain `cookiecutter`
command and `clusterforge new`; the generated repository's own nox sessions."""

from __future__ import annotations

import ast
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
from cookiecutter.exceptions import FailedHookException
from cookiecutter.generate import generate_context
from cookiecutter.main import cookiecutter
from cookiecutter.prompt import prompt_for_config

from generator import __version__, cli, loader, repo, scaffold, yamlio
from generator.errors import InventoryError
from generator.render import layout
from generator.toolpins import GO_TOOLS, kubeadm_binary

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
REFERENCE = loader.check_text(cli.example_text()).inventory
SKELETON = ["noxfile.py", scaffold.WORKFLOW, scaffold.PRE_COMMIT, scaffold.RENOVATE]


def generate(tmp_path: Path, **answers: object) -> Path:
    """The template through cookiecutter's API, without input."""
    return Path(cookiecutter(str(repo.TEMPLATE_DIR), no_input=True, extra_context=answers, output_dir=str(tmp_path)))


def default_answers(**overrides: str) -> dict:
    """The template's answers as cookiecutter resolves them without input."""
    context = generate_context(context_file=str(repo.TEMPLATE_DIR / "cookiecutter.json"), extra_context=overrides)
    return dict(prompt_for_config(context, no_input=True))


def check_messages(tmp_path: Path, text: str, capfd) -> list[str]:
    """What `clusterforge check` prints about an inventory."""
    path = tmp_path / "check" / "cluster.yaml"
    path.parent.mkdir()
    path.write_text(text)
    assert cli.main(["check", str(path)]) == 2
    return capfd.readouterr().err.splitlines()


@pytest.mark.parametrize("engine", ["flux", "argocd"])
def test_defaults_reproduce_the_reference_lab_for_each_engine(tmp_path, capsys, engine):
    project = generate(tmp_path, gitops_engine=engine)
    inventory = loader.check_file(project / layout.INVENTORY).inventory
    assert inventory == REFERENCE.model_copy(update={"gitops": REFERENCE.gitops.model_copy(update={"engine": engine})})
    assert (project / layout.INVENTORY).read_text().startswith(repo.SCHEMA_LINE)
    assert cli.main(["render", "-C", str(project), "--check"]) == 0
    assert (project / (layout.ARGOCD_ROOT if engine == "argocd" else layout.flux_cluster_dir(inventory))).exists()
    for rel in SKELETON:
        assert (project / rel).is_file(), rel
    assert not (project / scaffold.SOPS).exists()  # no age recipients
    assert f'"clusterforge=={__version__}"' in (project / "noxfile.py").read_text()


def test_counted_nodes_step_through_addresses_and_hosts(tmp_path):
    answers = default_answers(worker_count="4", worker_first_ip="192.168.100.40", worker_ip_step="2", hosts="a,b")
    workers = [n for n in scaffold.inventory_data(answers)["nodes"] if n["role"] == "worker"]
    assert [(n["name"], n["ip"], n["host"]) for n in workers] == [
        ("worker1", "192.168.100.40", "a"),
        ("worker2", "192.168.100.42", "b"),
        ("worker3", "192.168.100.44", "a"),
        ("worker4", "192.168.100.46", "b"),
    ]


def test_explicit_nodes_replace_the_counts(tmp_path):
    spec = ",".join(f"{n.name}:{n.role}:{n.ip}:{n.host}" for n in REFERENCE.nodes)
    answers = default_answers(explicit_nodes=spec, control_plane_count="1", worker_count="0")
    text = scaffold.inventory_text(answers)
    assert loader.check_text(text).inventory == REFERENCE


def test_answers_that_cannot_become_an_inventory_are_named(tmp_path):
    answers = default_answers(explicit_nodes="cp1:control-plane:192.168.100.11", local_asn="AS64512")
    with pytest.raises(InventoryError) as caught:
        scaffold.inventory_data(answers)
    assert [str(p) for p in caught.value.problems] == [
        "answers: explicit_nodes[0]: 'cp1:control-plane:192.168.100.11' is not name:role:ip:host",
        "answers: local_asn: 'AS64512' is not a whole number of at least 0",
    ]


def test_bad_answer_exits_2_with_the_check_messages_and_leaves_nothing(tmp_path, capfd):
    out = tmp_path / "out"
    out.mkdir()
    bad_vip = "10.0.0.4"  # outside the node subnet
    expected = check_messages(tmp_path, scaffold.inventory_text(default_answers(api_vip=bad_vip)), capfd)
    assert any("apiServer.vip" in line for line in expected)
    with pytest.raises(FailedHookException, match="exit status: 2"):
        generate(out, api_vip=bad_vip)
    assert capfd.readouterr().err.splitlines()[: len(expected)] == expected
    assert list(out.iterdir()) == []  # cookiecutter removed the project folder


def test_bad_inventory_exits_2_with_the_check_messages_and_leaves_nothing(tmp_path, capsys):
    bad = tmp_path / "lab.yaml"
    bad.write_text(cli.example_text().replace("vip: 192.168.100.4", "vip: 10.0.0.4"))
    assert cli.main(["check", str(bad)]) == 2
    expected = capsys.readouterr().err
    assert cli.main(["new", str(tmp_path / "lab"), "--inventory", str(bad)]) == 2
    assert capsys.readouterr().err == expected
    assert [p.name for p in tmp_path.iterdir()] == ["lab.yaml"]


def test_failing_post_hook_leaves_nothing_behind(tmp_path, capfd, monkeypatch):
    monkeypatch.setenv("GIT_AUTHOR_NAME", "")  # git refuses to commit: the post hook fails after rendering
    assert cli.main(["new", str(tmp_path / "lab"), "--example", "--git-init"]) == 2
    assert "empty ident name" in capfd.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_inventory_is_used_verbatim_without_prompts(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(sys, "stdin", None)  # a prompt would fail
    text = cli.example_text().replace("name: koedo-lab", "name: other-lab  # renamed")
    inventory = tmp_path / "mine.yaml"
    inventory.write_text(text)
    dest = tmp_path / "repo"
    assert cli.main(["new", str(dest), "--inventory", str(inventory)]) == 0
    assert (dest / layout.INVENTORY).read_text() == repo.SCHEMA_LINE + text
    assert (dest / "clusters" / "other-lab").is_dir()


def test_new_ignores_the_users_cookiecutter_config_and_leaves_no_replay(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    (home / ".cookiecutterrc").write_text("default_context:\n  cluster_name: not-asked-for\n")
    dest = tmp_path / "lab"
    # A process of its own: cookiecutter reads HOME when it is imported.
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    env = {k: v for k, v in os.environ.items() if k != "COOKIECUTTER_CONFIG"} | {"HOME": str(home), "TMPDIR": str(tmp)}
    subprocess.run([sys.executable, "-m", "generator", "new", str(dest), "--no-input"], env=env, check=True, capture_output=True)
    assert (dest / "clusters" / "koedo-lab").is_dir()  # the template's answers, not the rc file's
    # cookiecutter's replay copy holds the whole inventory: nothing is written outside DEST.
    assert sorted(p.name for p in home.iterdir()) == [".cookiecutterrc"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["home", "lab", "tmp"]
    assert list(tmp.iterdir()) == []


def test_git_init_commits_everything_but_the_secrets(tmp_path, capsys):
    dest = tmp_path / "lab"
    assert cli.main(["new", str(dest), "--example", "--git-init"]) == 0
    git = ["git", "-C", str(dest)]
    subject = subprocess.run([*git, "log", "--format=%s"], check=True, capture_output=True, text=True).stdout
    assert subject == f"Initial cluster repository (clusterforge {__version__})\n"
    tracked = subprocess.run([*git, "ls-files"], check=True, capture_output=True, text=True).stdout.splitlines()
    assert layout.SECRETS_FILE not in tracked and (dest / layout.SECRETS_FILE).is_file()
    assert {layout.INVENTORY, layout.LOCK_FILE, *SKELETON} <= set(tracked)
    assert subprocess.run([*git, "status", "--porcelain"], check=True, capture_output=True, text=True).stdout == ""


def test_skeleton_files_parse_and_point_at_the_cluster(tmp_path):
    files = scaffold.skeleton_files(REFERENCE)
    workflow = yamlio.loader().load(files[scaffold.WORKFLOW])
    steps = workflow["jobs"]["validate"]["steps"]
    assert workflow["on"]["push"]["branches"] == [REFERENCE.gitops.branch]
    assert workflow["permissions"] == {"contents": "read"}
    assert steps[0] == {"uses": "actions/checkout@v5", "with": {"persist-credentials": False}}  # no token left for the tools
    assert steps[-1]["run"] == "pipx run nox -s tools render_check validate"
    assert next(s for s in steps if s.get("uses", "").startswith("actions/cache"))["with"]["path"].split() == ["~/.cache/clusterforge"]
    hooks = yamlio.loader().load(files[scaffold.PRE_COMMIT])["repos"][0]["hooks"]
    assert [h["entry"] for h in hooks] == ["clusterforge render --check", "clusterforge validate --strict"]
    renovate = json.loads(files[scaffold.RENOVATE])
    assert [m["depNameTemplate"] for m in renovate["customManagers"]] == ["kubernetes/kubernetes", "cilium", "clusterforge"]


def test_renovate_matches_the_versions_it_bumps(tmp_path):
    """Renovate's regexes are JavaScript (RE2); these use only syntax Python reads the same."""
    project = generate(tmp_path)
    managers = json.loads((project / scaffold.RENOVATE).read_text())["customManagers"]
    found = {}
    for manager in managers:
        target = "noxfile.py" if "noxfile" in manager["managerFilePatterns"][0] else layout.INVENTORY
        pattern = manager["matchStrings"][0].replace("(?<", "(?P<")
        found[manager["depNameTemplate"]] = re.search(pattern, (project / target).read_text())["currentValue"]
    assert found == {"kubernetes/kubernetes": REFERENCE.kubernetes.version, "cilium": REFERENCE.cilium.version, "clusterforge": __version__}


@pytest.mark.tools
def test_sops_config_only_with_age_recipients(tmp_path, need_tool):
    age_keygen = need_tool("age-keygen")
    need_tool("sops")
    key = tmp_path / "age.key"
    subprocess.run([str(age_keygen), "-o", str(key)], check=True, capture_output=True)
    recipient = next(line.split(": ")[1] for line in key.read_text().splitlines() if line.startswith("# public key: "))
    project = generate(tmp_path / "out", age_recipients=recipient)
    rules = yamlio.loader().load((project / scaffold.SOPS).read_text())["creation_rules"]
    assert rules[0]["age"] == recipient
    assert "sops:" in (project / layout.SECRETS_FILE).read_text()


def test_plain_cookiecutter_command(tmp_path):
    command = Path(sys.executable).parent / "cookiecutter"
    done = subprocess.run(
        [str(command), "--no-input", str(repo.TEMPLATE_DIR), "--output-dir", str(tmp_path), "gitops_engine=argocd"],
        capture_output=True, text=True,
    )
    assert done.returncode == 0, done.stderr
    project = tmp_path / REFERENCE.name
    assert loader.check_file(project / layout.INVENTORY).inventory.gitops.engine == "argocd"
    assert (project / layout.ARGOCD_ROOT).is_file()


def test_generated_noxfile_holds_no_code_in_a_string(tmp_path):
    """Its tools session calls `clusterforge tools install`: no program is kept in a string."""
    source = (generate(tmp_path) / "noxfile.py").read_text()
    tree = ast.parse(source)
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and "\n" in node.value.strip():
            with pytest.raises(SyntaxError):  # prose (docstrings), never Python
                ast.parse(node.value)
    tools_session = next(n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "tools")
    assert ast.unparse(tools_session.body[-1]) == "session.run('clusterforge', 'tools', 'install')"


@pytest.mark.tools
def test_generated_repository_runs_its_own_nox_sessions(tmp_path, need_tool):
    # `nox -s tools` installs into $CLUSTERFORGE_TOOLS_DIR: links to the tools found, so it may
    # replace a link but never touch the tools themselves.
    tools_dir = tmp_path / "tools"
    tools_dir.mkdir()
    for tool in (*GO_TOOLS, "kubeadm"):
        found = need_tool(tool)
        (tools_dir / (kubeadm_binary(REFERENCE.kubernetes.version) if tool == "kubeadm" else tool)).symlink_to(found)
    if not (SHARED / "charts" / "index.yaml").is_file() or not (SHARED / "schemas" / "crds").is_dir():
        pytest.skip(f"the offline chart and schema caches are not in {SHARED}")
    project = generate(tmp_path / "out")
    env = {
        **os.environ,
        "CLUSTERFORGE_SPEC": str(ROOT),
        "CLUSTERFORGE_CACHE_DIR": str(tmp_path / "cache"),
        "CLUSTERFORGE_TOOLS_DIR": str(tools_dir),
        "CLUSTERFORGE_SCHEMAS_FROM": str(SHARED / "schemas" / "crds"),
        "CLUSTERFORGE_CHARTS_MIRROR": (SHARED / "charts").as_uri(),
    }
    nox = [sys.executable, "-m", "nox", "-f", "noxfile.py", "-s", "tools", "render_check", "validate"]
    started = time.monotonic()
    done = subprocess.run(nox, cwd=project, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    print(f"nox -s tools render_check validate took {time.monotonic() - started:.0f} s")
    assert "0 failed" in done.stdout
    output = done.stdout + done.stderr
    # Every pinned tool was found at its version, kubeadm at cluster.yaml's: nothing to build.
    assert f"{len(GO_TOOLS) + 1} tools ready in {tools_dir}" in output and ": installed" not in output
    assert f"{kubeadm_binary(REFERENCE.kubernetes.version)}: up to date" in output
