"""cloud-init schema, our check of user-data's top-level keys, netplan generate and our
check of network-config against the inventory, on a rendered reference repository."""

from __future__ import annotations

import json
import shlex
import sys
from pathlib import Path

import pytest

from generator import loader, tools, yamlio
from generator.errors import ClusterforgeError, ToolFailed, ToolMissing
from generator.render import layout
from generator.validate.base import Context, Result
from generator.validate.checks import cloudinit
from generator.validate import caches
from generator.validate.checks import _common
from generator.validate.checks._common import RERENDER, Tool
from support import copy, edit, program

from . import NeedTool, ctx_of, failures, run

CP1 = "nodes/cp1"


def test_globs_match_layout(reference: Path) -> None:
    inv = loader.check_file(reference / layout.INVENTORY).inventory
    for node in inv.nodes:
        assert Path(f"{layout.seed_dir(node)}/user-data").match(cloudinit.USER_DATA_FILES)
        assert Path(f"{layout.seed_dir(node)}/network-config").match(cloudinit.NETWORK_CONFIG_FILES)


@pytest.mark.tools
def test_the_reference_seeds_pass_every_check(reference: Path, need_tool: NeedTool) -> None:
    need_tool("cloud-init")
    need_tool("netplan")
    results = run(reference, cloudinit.jobs)
    assert {(r.check, r.file) for r in results} >= {(c, f"{CP1}/{f}") for c, f in [
        (cloudinit.SCHEMA, "user-data"), (cloudinit.KEYS, "user-data"), (cloudinit.NETPLAN, "network-config"), (cloudinit.NETWORK, "network-config")]}
    assert failures(results) == {}


def test_schema_keys_come_from_the_schema() -> None:
    schema = {
        "$defs": {"a": {"properties": {"runcmd": {}}}, "b": {"allOf": [{"properties": {"write_files": {}}}]}},
        "allOf": [{"$ref": "#/$defs/a"}, {"$ref": "#/$defs/b"}],
    }
    assert cloudinit.schema_keys(schema) == {"runcmd", "write_files"}


@pytest.mark.tools
def test_a_misspelt_key_fails_ours(reference: Path, tmp_path: Path, need_tool: NeedTool) -> None:
    need_tool("cloud-init")
    root = copy(reference, tmp_path)
    edit(root, f"{CP1}/user-data", "\nruncmd:", "\nruncmdd:")
    failed = failures(run(root, cloudinit.key_jobs))
    assert list(failed) == [f"{CP1}/user-data"]
    assert "unknown top-level key 'runcmdd'" in failed[f"{CP1}/user-data"]
    assert "did you mean 'runcmd'" in failed[f"{CP1}/user-data"]


@pytest.mark.tools
def test_a_wrong_type_fails_cloud_init_schema(reference: Path, tmp_path: Path, need_tool: NeedTool) -> None:
    need_tool("cloud-init")
    root = copy(reference, tmp_path)
    edit(root, f"{CP1}/user-data", "\nhostname: cp1\n", "\nhostname: 5\n")
    failed = failures(run(root, cloudinit.schema_jobs))
    assert list(failed) == [f"{CP1}/user-data"]
    assert "hostname: 5 is not of type 'string'" in failed[f"{CP1}/user-data"]


def test_cloud_init_schema_runs_once_for_every_user_data(reference: Path) -> None:
    ctx = Context(reference, loader.check_file(reference / layout.INVENTORY).inventory, reference.parent / "cache")
    [job] = cloudinit.schema_jobs(ctx)
    assert set(job.inputs) == {p.relative_to(reference).as_posix() for p in reference.glob("nodes/*/user-data")}


def test_cloud_init_must_be_a_python_script(tmp_path: Path) -> None:
    """Its schema check runs in cloud-init's own interpreter, named by its shebang."""
    (tmp_path / "cloud-init").write_text("#!/bin/sh\nexec true\n")
    with pytest.raises(ClusterforgeError, match="is not a Python script"):
        cloudinit.python_of(tmp_path / "cloud-init")
    (tmp_path / "cloud-init").write_text("#!/usr/bin/env python3\nimport sys\n")
    assert cloudinit.python_of(tmp_path / "cloud-init") == ["/usr/bin/env", "python3"]


@pytest.mark.tools
def test_netplan_names_the_seed_line(reference: Path, tmp_path: Path, need_tool: NeedTool) -> None:
    need_tool("netplan")
    root = copy(reference, tmp_path)
    path = f"{CP1}/network-config"
    edit(root, path, "- 192.168.100.11/24", "- 192.168.100.11")
    line = next(n for n, text in enumerate((root / path).read_text().splitlines(), 1) if "192.168.100.11" in text)
    failed = failures(run(root, cloudinit.netplan_jobs))
    assert list(failed) == [path]
    assert f"{path}:{line}:" in failed[path]  # the seed's own line, not the wrapped copy's
    assert "missing /prefixlength" in failed[path]


@pytest.mark.parametrize(
    ("old", "new", "says"),
    [
        ("via: 192.168.100.1", "via: 192.168.100.254", "network.gateway is 192.168.100.1"),
        ("  ens160:", "  ens161:", "no ethernets entry for interface ens160"),
        ("- 192.168.100.11/24", "- 192.168.100.12/24", "192.168.100.11/24 is missing"),
        ("- 192.168.100.11/24", "- 192.168.100.11/24\n      - 10.0.0.5/8", "not inside network.subnet"),
        ("        - 192.168.100.1\n", "        - 9.9.9.9\n", "network.dns"),
    ],
)
def test_network_config_must_say_what_the_inventory_says(reference: Path, tmp_path: Path, old: str, new: str, says: str) -> None:
    root = copy(reference, tmp_path)
    edit(root, f"{CP1}/network-config", old, new)
    failed = failures(run(root, cloudinit.network_jobs))
    assert list(failed) == [f"{CP1}/network-config"]
    assert says in failed[f"{CP1}/network-config"]


def test_a_mac_matched_entry_counts_for_the_interface(reference: Path) -> None:
    inv = loader.check_file(reference / layout.INVENTORY).inventory
    node = inv.nodes[0].model_copy(update={"mac": "52:54:00:12:34:56"})
    entry = {
        "match": {"macaddress": "52:54:00:12:34:56"},
        "set-name": "ens160",
        "addresses": [f"{node.ip}/24"],
        "routes": [{"to": "default", "via": "192.168.100.1"}],
        "nameservers": {"addresses": ["192.168.100.1"]},
    }
    assert cloudinit.network_problems(inv, node, {"network": {"version": 2, "ethernets": {"nic0": entry}}}) == []
    wrong_mac = {**entry, "match": {"macaddress": "52:54:00:00:00:01"}}
    assert "match.macaddress" in cloudinit.network_problems(inv, node, {"version": 2, "ethernets": {"nic0": wrong_mac}})[0]


# --- each result whole, with the tools' real words -------------------------------------------


@pytest.mark.tools
def test_schema_and_key_results_whole(reference: Path, tmp_path: Path, need_tool: NeedTool) -> None:
    need_tool("cloud-init")
    root = copy(reference, tmp_path)
    edit(root, f"{CP1}/user-data", "\nhostname: cp1\n", "\nhostname: 5\n")
    edit(root, f"{CP1}/user-data", "\nruncmd:", "\nruncmdd:")
    edit(root, f"{CP1}/user-data", "\nhostname: 5\n", "\nhostname: 5\nzzzzzz: 1\n")
    line = (root / f"{CP1}/user-data").read_text().splitlines().index("runcmdd:") + 1
    z_line = (root / f"{CP1}/user-data").read_text().splitlines().index("zzzzzz: 1") + 1
    [schema] = cloudinit.schema_jobs(ctx_of(root))
    assert (schema.check, schema.extra_key) == (cloudinit.SCHEMA, cloudinit.schema_identity(cloudinit.CLOUD_CONFIG_SCHEMA))
    assert schema.tool_version == _common.find("cloud-init").version
    # The schema file's stamp: a new cloud-init package changes it even where its executable stays.
    schema_file = cloudinit.CLOUD_CONFIG_SCHEMA
    assert cloudinit.schema_identity(schema_file) == f"{schema_file} {caches.stamp(schema_file)}"
    results = {r.file: r for r in schema.run()}
    assert set(results) == set(schema.inputs)
    assert results[f"{CP1}/user-data"] == Result(
        cloudinit.SCHEMA, f"{CP1}/user-data", False,
        "Error:\nCloud config schema errors: hostname: 5 is not of type 'string', hostname: 5 is not of type 'string'\nCloud config schema deprecations:",
        f"cloud-init rejects this user-data; {RERENDER}",
    )
    assert results["nodes/cp2/user-data"] == Result(cloudinit.SCHEMA, "nodes/cp2/user-data", True)
    keys = {j.inputs[0]: j for j in cloudinit.key_jobs(ctx_of(root))}
    assert (keys[f"{CP1}/user-data"].check, keys[f"{CP1}/user-data"].extra_key) == (cloudinit.KEYS, cloudinit.schema_identity(cloudinit.CLOUD_CONFIG_SCHEMA))
    assert keys[f"{CP1}/user-data"].run() == [Result(
        cloudinit.KEYS, f"{CP1}/user-data", False,
        f"line {z_line}: unknown top-level key 'zzzzzz': cloud-init ignores it\nline {line}: unknown top-level key 'runcmdd': cloud-init ignores it; did you mean 'runcmd'?",
        f"a key outside cloud-init's schema is silently ignored at boot; {RERENDER}",
    )]
    assert keys["nodes/cp2/user-data"].run() == [Result(cloudinit.KEYS, "nodes/cp2/user-data", True)]


@pytest.mark.tools
def test_a_user_data_that_is_not_yaml_fails_our_key_check(reference: Path, tmp_path: Path, need_tool: NeedTool) -> None:
    need_tool("cloud-init")
    root = copy(reference, tmp_path)
    (root / f"{CP1}/user-data").write_text("#cloud-config\na: [\n")
    [result] = next(j for j in cloudinit.key_jobs(ctx_of(root)) if j.inputs == (f"{CP1}/user-data",)).run()
    assert (result.check, result.file, result.ok, result.hint) == (cloudinit.KEYS, f"{CP1}/user-data", False, f"not YAML: {RERENDER}")
    assert result.message.startswith(f"{CP1}/user-data")


def test_the_key_check_needs_cloud_init_s_schema(reference: Path, tmp_path: Path) -> None:
    missing = tmp_path / "schema.json"
    [job, *_] = cloudinit.key_jobs(ctx_of(reference), missing)
    assert job.extra_key == f"{missing} missing"
    with pytest.raises(ToolMissing, match=f"cloud-init's schema {missing} not found") as e:
        job.run()
    assert e.value.hint == _common.find("cloud-init").install


def test_unknown_keys_each_with_its_line_and_a_guess() -> None:
    data = yamlio.loader().load("runcmd: []\nruncmdd: []\nzzzzzz: 1\n")
    assert cloudinit.unknown_keys(data, {"runcmd", "write_files"}) == [
        "line 2: unknown top-level key 'runcmdd': cloud-init ignores it; did you mean 'runcmd'?",
        "line 3: unknown top-level key 'zzzzzz': cloud-init ignores it",
    ]
    assert cloudinit.unknown_keys({"runcmdd": 1}, {"runcmd"}) == ["unknown top-level key 'runcmdd': cloud-init ignores it; did you mean 'runcmd'?"]
    assert cloudinit.unknown_keys(["runcmd"], {"runcmd"}) == ["not a YAML mapping: cloud-init would ignore it"]


def test_schema_keys_follow_refs_and_every_combinator() -> None:
    schema = {
        "$defs": {"a": {"properties": {"a1": {}}, "anyOf": [{"properties": {"a2": {}}}]}, "b": {"oneOf": [{"$ref": "#/$defs/a"}, {"properties": {"b1": {}}}]}},
        "properties": {"top": {}},
        "allOf": [{"$ref": "#/$defs/b"}, {"properties": {"c1": {}}, "$ref": "#/$defs/a"}],
    }
    assert cloudinit.schema_keys(schema) == {"top", "a1", "a2", "b1", "c1"}
    assert cloudinit.schema_keys({}) == set()


@pytest.mark.tools
@pytest.mark.parametrize("wrapped", [False, True], ids=["bare v2", "under network:"])
def test_netplan_results_whole(reference: Path, tmp_path: Path, need_tool: NeedTool, wrapped: bool) -> None:
    """netplan's line and column point at the seed as it is, whether or not the check had to
    put it under `network:` (as cloud-init does) before netplan could read it."""
    need_tool("netplan")
    root = copy(reference, tmp_path)
    path = f"{CP1}/network-config"
    text = (root / path).read_text().replace("- 192.168.100.11/24", "- 192.168.100.11")
    if wrapped:
        text = "network:\n" + "".join(f"  {line}" if line.strip() else line for line in text.splitlines(keepends=True))
    (root / path).write_text(text)
    line = next(n for n, t in enumerate(text.splitlines(), 1) if "192.168.100.11" in t)
    column = text.splitlines()[line - 1].index("-") + 1
    jobs = {j.inputs[0]: j for j in cloudinit.netplan_jobs(ctx_of(root))}
    assert (jobs[path].check, jobs[path].extra_key) == (cloudinit.NETPLAN, "")
    assert jobs[path].tool_version.startswith(f"{cloudinit.netplan_generator()} ")
    [result] = jobs[path].run()
    assert (result.check, result.file, result.ok, result.hint) == (cloudinit.NETPLAN, path, False, f"netplan rejects this network-config; {RERENDER}")
    assert result.message.startswith(f"{path}:{line}:{column}: Error in network definition: address '192.168.100.11' is missing /prefixlength\n")
    assert "cf-netplan-" not in result.message
    assert jobs["nodes/cp2/network-config"].run() == [Result(cloudinit.NETPLAN, "nodes/cp2/network-config", True)]


@pytest.mark.tools
def test_netplan_names_the_seed_column_on_a_line_of_whitespace(reference: Path, tmp_path: Path, need_tool: NeedTool) -> None:
    """A line of only a tab in a bare v2 seed: netplan's column points at the tab in the seed, as on any
    other line (the line added under `network:` is indented like every other)."""
    need_tool("netplan")
    root = copy(reference, tmp_path)
    path = f"{CP1}/network-config"
    edit(root, path, "    dhcp4: false\n", "    dhcp4: false\n\t\n")
    line = (root / path).read_text().splitlines().index("\t") + 1
    [result] = [r for j in cloudinit.netplan_jobs(ctx_of(root)) if j.inputs[0] == path for r in j.run()]
    assert (result.check, result.file, result.ok) == (cloudinit.NETPLAN, path, False)
    assert result.message.startswith(f"{path}:{line}:1: Invalid YAML: tabs are not allowed for indent:\n")


@pytest.mark.tools
def test_the_netplan_generator_named_by_netplan_s_variable(need_tool: NeedTool, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    need_tool("netplan")
    generator = tmp_path / "generate"
    generator.write_text("#!/bin/sh\n")
    monkeypatch.setenv("NETPLAN_GENERATE_PATH", str(generator))
    assert cloudinit.netplan_generator() is None  # not executable
    generator.chmod(0o755)
    assert cloudinit.netplan_generator() == generator
    tool = cloudinit.netplan_tool()
    assert (tool.name, tool.path, tool.install) == ("netplan", generator, "apt-get install netplan.io")
    assert tool.version.startswith(f"{generator} ") and len(tool.version) > len(str(generator)) + 1


def test_without_netplan_there_is_no_generator(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setenv(tools.TOOLS_DIR_ENV, "")  # PATH only: not the checkout's .tools/bin either
    assert cloudinit.netplan_generator() is None
    assert cloudinit.netplan_tool() == Tool("netplan", None, "", "apt-get install netplan.io")


def test_cloud_init_s_interpreter_from_its_shebang(tmp_path: Path) -> None:
    script = tmp_path / "cloud-init"
    script.write_text("#!/usr/bin/python3 -I\nimport sys\n")
    assert cloudinit.python_of(script) == ["/usr/bin/python3", "-I"]
    script.write_text("import sys\n")
    with pytest.raises(ClusterforgeError) as e:
        cloudinit.python_of(script)
    assert str(e.value) == f"{script} is not a Python script (its first line: 'import sys'): cannot run cloud-init's schema check"


@pytest.mark.parametrize(
    ("first_line", "argv"),
    [
        (b"# python3 is what runs this\n", None),  # a comment naming python is no shebang
        (b"#!/usr/bin/python3 \xff\n", ["/usr/bin/python3", "\ufffd"]),  # not UTF-8: replaced, never a crash
        (b"#!/" + b"a" * 4087 + b"python\n", ["/" + "a" * 4087 + "python"]),  # python ends at the 4096th byte: read
        (b"#!/" + b"a" * 4088 + b"python\n", None),  # ... at the 4097th: past what is read of the first line
    ],
    ids=["comment", "not-utf8", "4096-bytes", "4097-bytes"],
)
def test_cloud_init_s_first_line(tmp_path: Path, first_line: bytes, argv: list[str] | None) -> None:
    script = tmp_path / "cloud-init"
    script.write_bytes(first_line + b"import sys\n")
    if argv is None:
        with pytest.raises(ClusterforgeError, match="is not a Python script"):
            cloudinit.python_of(script)
    else:
        assert cloudinit.python_of(script) == argv


# --- cloud-init's batch output is tool output, hostile until checked ----------------------------
# The real cloud-init always answers each file with exit code 0 or 1; these stand-ins for its
# interpreter print what a broken or changed cloud-init might, to reach the answers it never gives.


def stand_in_cloud_init(tmp_path: Path, stdout: str, stderr: str = "") -> Path:
    python = program(tmp_path / "bin" / "python3", f"#!/bin/sh\nprintf '%s' {shlex.quote(stdout)}\nprintf '%s' {shlex.quote(stderr)} >&2\n")
    cloud_init = tmp_path / "bin" / "cloud-init"
    cloud_init.write_text(f"#!{python}\n")
    return cloud_init


def test_batch_output_that_is_not_json_is_a_tool_failure(tmp_path: Path, reference: Path) -> None:
    cloud_init = stand_in_cloud_init(tmp_path, "Traceback (most recent call last):\n", "boom")
    with pytest.raises(ToolFailed) as e:
        cloudinit.schema_results(ctx_of(reference), cloud_init, [f"{CP1}/user-data"])
    python = str(tmp_path / "bin" / "python3")
    assert (e.value.argv, e.value.returncode, e.value.stdout, e.value.stderr) == (
        [python, str(cloudinit.BATCH_SCRIPT), f"{CP1}/user-data"], 0, "Traceback (most recent call last):\n", "boom")


@pytest.mark.parametrize(
    ("line", "stderr", "failure"),
    [
        ({"file": f"{CP1}/user-data", "code": 2, "stdout": "out", "stderr": "err"}, "batch", (2, "out", "err")),
        ({"file": f"{CP1}/user-data", "code": 2, "stdout": "out", "stderr": ""}, "batch", (2, "out", "batch")),
        ({"file": "nodes/other/user-data", "code": 0, "stdout": "", "stderr": ""}, "batch", (None, "", "batch")),  # no answer for the file
    ],
    ids=["exit-2", "exit-2-quiet", "no-answer"],
)
def test_an_answer_other_than_0_or_1_is_a_tool_failure(tmp_path: Path, reference: Path, line: dict, stderr: str, failure: tuple) -> None:
    cloud_init = stand_in_cloud_init(tmp_path, json.dumps(line) + "\n", stderr)
    with pytest.raises(ToolFailed) as e:
        cloudinit.schema_results(ctx_of(reference), cloud_init, [f"{CP1}/user-data"])
    assert (e.value.argv, e.value.returncode, e.value.stdout, e.value.stderr) == ([str(cloud_init), "schema", "--config-file", f"{CP1}/user-data"], *failure)


def test_a_failure_without_words_says_its_exit_code(tmp_path: Path, reference: Path) -> None:
    cloud_init = stand_in_cloud_init(tmp_path, json.dumps({"file": f"{CP1}/user-data", "code": 1, "stdout": "", "stderr": " \n"}) + "\n")
    assert cloudinit.schema_results(ctx_of(reference), cloud_init, [f"{CP1}/user-data"]) == [
        Result(cloudinit.SCHEMA, f"{CP1}/user-data", False, "exit code 1", f"cloud-init rejects this user-data; {RERENDER}")
    ]


@pytest.mark.tools
def test_the_batch_s_timeout_grows_with_its_files(tmp_path: Path, reference: Path, need_tool: NeedTool) -> None:
    """The batch's timeout grows by 5 s a file from _common.TIMEOUT: 13 seeds get 125 s, where a
    timeout shrinking by file would be used up before cloud-init starts."""
    cloud_init = need_tool("cloud-init")
    root = tmp_path / "repo"
    paths = [f"nodes/n{i}/user-data" for i in range(13)]
    for path in paths:
        (root / path).parent.mkdir(parents=True)
        (root / path).write_text((reference / CP1 / "user-data").read_text())
    ctx = Context(root, loader.check_file(reference / layout.INVENTORY).inventory, tmp_path / "cache")
    assert cloudinit.schema_results(ctx, cloud_init, paths) == [Result(cloudinit.SCHEMA, path, True) for path in paths]


def test_a_cloud_init_that_hangs_times_out(tmp_path: Path, reference: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Stopped after _common.TIMEOUT + 5 s for its one file (half a second here): this stand-in would
    pass the file, but only after 3 s."""
    monkeypatch.setattr(_common, "TIMEOUT", 0.5 - 5)
    answer = 'json.dumps({"file": sys.argv[2], "code": 0, "stdout": "", "stderr": ""})'
    python = program(tmp_path / "bin" / "python3", f"#!{sys.executable}\nimport json, sys, time\ntime.sleep(3)\nprint({answer})\n")
    cloud_init = tmp_path / "bin" / "cloud-init"
    cloud_init.write_text(f"#!{python}\n")
    with pytest.raises(ToolFailed) as e:
        cloudinit.schema_results(ctx_of(reference), cloud_init, [f"{CP1}/user-data"])
    assert (e.value.argv, e.value.returncode, e.value.stdout, e.value.stderr) == ([str(python), str(cloudinit.BATCH_SCRIPT), f"{CP1}/user-data"], None, "", "")
