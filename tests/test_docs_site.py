"""The project's documentation site: the generated reference pages cover every
field, command and check; mkdocs.yml names only pages that exist and every page;
CI runs exactly the README's test command."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

from generator import cli, yamlio
from generator.render import meta
from generator.validate import runner
from support import load_script

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
GENERATED = {"reference/inventory.md", "reference/cli.md", "reference/validation.md"}
# The Japanese site falls back to the English page; mutation.md's table is written by `nox -s mutants`.
ENGLISH_ONLY = {"architecture.md", "mutation.md", "benchmarks.md"}


def generate_module():
    return load_script(ROOT / "tools" / "docs" / "generate.py", "clusterforge_docs_generate")


def schema_paths(schema: dict, node: dict, prefix: str) -> list[str]:
    paths = []
    for name, child in node.get("properties", {}).items():
        path = f"{prefix}.{name}" if prefix else name
        paths.append(path)
        for option in child.get("anyOf", [child]):
            is_list = option.get("type") == "array"
            target = option.get("items", option) if is_list else option
            if "$ref" in target:
                paths += schema_paths(schema, schema["$defs"][target["$ref"].rsplit("/", 1)[-1]], f"{path}[]" if is_list else path)
    return paths


def test_reference_pages_cover_every_field_command_and_check(tmp_path: Path) -> None:
    generate = generate_module()
    assert generate.main(["--out", str(tmp_path)]) == 0
    inventory = (tmp_path / "inventory.md").read_text()
    schema = meta.inventory_schema()
    for path in schema_paths(schema, schema, ""):
        assert f"| `{path}` |" in inventory, path
    commands = (tmp_path / "cli.md").read_text()
    for name in ("example", "schema", "check", "new", "render", "plan", "seed", "bgp-secrets", "validate", "simulate", "schemas pull", "charts pull", "doctor", "explain"):
        assert f"## `clusterforge {name}`" in commands, name
    assert "`--language` (en \\| ja)" in commands
    checks = (tmp_path / "validation.md").read_text()
    assert len(re.findall(r"^## `", checks, re.M)) == len(runner.check_modules())
    for name in ("inventory", "cli", "validation"):
        en, ja = (tmp_path / f"{name}.md").read_text(), (tmp_path / f"{name}.ja.md").read_text()
        assert re.findall(r"^## .*$", en, re.M) == re.findall(r"^## .*$", ja, re.M)
        assert en.splitlines()[0] != ja.splitlines()[0]  # the title is translated


def test_the_example_column_shows_the_reference_inventory(tmp_path: Path) -> None:
    generate_module().main(["--out", str(tmp_path)])
    example = yamlio.loader().load(cli.example_text())
    inventory = (tmp_path / "inventory.md").read_text()
    assert f"| `nodes[].ip` | string (ipv4) | required | Static address in network.subnet. | `{example['nodes'][0]['ip']}` |" in inventory


def nav_pages(nav: list) -> list[str]:
    pages = []
    for entry in nav:
        for value in entry.values():
            pages += nav_pages(value) if isinstance(value, list) else [value]
    return pages


def test_the_site_names_every_page_and_only_pages_that_exist() -> None:
    config = yamlio.loader().load((ROOT / "mkdocs.yml").read_text())
    pages = nav_pages(config["nav"])
    written = {p.relative_to(DOCS).as_posix() for p in DOCS.rglob("*.md") if not p.name.endswith(".ja.md") and "reference" not in p.parts}
    assert set(pages) == written | GENERATED
    for page in written - ENGLISH_ONLY:
        assert (DOCS / page.replace(".md", ".ja.md")).is_file(), page
    assert config["docs_dir"] == "docs" and "i18n" in str(config["plugins"])


def test_getting_started_shows_the_readme_commands() -> None:
    readme = (ROOT / "README.md").read_text()
    commands = [line for line in readme.splitlines() if line.startswith("python3 -m pip install --quiet nox && nox -s tools ")]
    assert len(commands) == 2
    for page in ("index.md", "index.ja.md"):
        shown = [line for line in (DOCS / page).read_text().splitlines() if line.startswith("python3 -m pip install")]
        assert shown == commands, page


def test_ci_runs_exactly_the_readme_test_command() -> None:
    readme = (ROOT / "README.md").read_text()
    (command,) = [line.split("   #")[0].strip() for line in readme.splitlines() if line.startswith("python3 -m pip install --quiet nox && nox -s tools tests")]
    assert (ROOT / ".ci" / "run").read_text().rstrip("\n").splitlines()[-1] == command


def test_japanese_descriptions_name_current_fields(tmp_path: Path) -> None:
    """A translation of a field that no longer exists (or was renamed) is caught, and the
    Japanese page uses the translations."""
    generate = generate_module()
    schema = meta.inventory_schema()
    assert set(generate.JA_DESCRIPTIONS) <= set(schema_paths(schema, schema, ""))
    generate.main(["--out", str(tmp_path)])
    page = (tmp_path / "inventory.ja.md").read_text()
    assert f"| `nodes[].ip` | string (ipv4) | 必須 | {generate.JA_DESCRIPTIONS['nodes[].ip']} |" in page


def test_every_check_is_explained_in_japanese() -> None:
    generate = generate_module()
    modules = {m.__name__.rsplit(".", 1)[-1] for m in (sys.modules[f.__module__] for f in runner.check_modules())}
    assert set(generate.JA_CHECKS) == modules


def build_site(tmp_path: Path, broken_link: bool = False) -> subprocess.CompletedProcess[str]:
    """What `nox -s docs` does, on a copy of docs/ (the source tree is left alone); with no network
    at all where the test may make a network namespace (root, as in CI)."""
    shutil.copytree(DOCS, tmp_path / "docs", ignore=shutil.ignore_patterns("reference"))
    shutil.copy(ROOT / "mkdocs.yml", tmp_path / "mkdocs.yml")
    if broken_link:
        with (tmp_path / "docs" / "guide.md").open("a") as page:
            page.write("\nSee [the missing page](missing.md).\n")
    assert generate_module().main(["--out", str(tmp_path / "docs" / "reference")]) == 0
    argv = [sys.executable, "-m", "mkdocs", "build", "--strict", "-f", str(tmp_path / "mkdocs.yml"), "--site-dir", str(tmp_path / "site")]
    if os.geteuid() == 0:
        argv = ["unshare", "--net", *argv]
    return subprocess.run(argv, capture_output=True, text=True, env={**os.environ, "NO_MKDOCS_2_WARNING": "1"})


def test_the_site_builds_strictly_and_offline(tmp_path: Path) -> None:
    done = build_site(tmp_path)
    assert done.returncode == 0, done.stderr
    site = tmp_path / "site"
    for page in ("index.html", "reference/inventory/index.html", "ja/index.html", "ja/reference/cli/index.html"):
        assert (site / page).is_file(), page
    assert "はじめに" in (site / "ja" / "index.html").read_text()
    for page in site.rglob("*.html"):  # system fonts: nothing is fetched from a font CDN when the site is read
        assert "fonts.googleapis.com" not in page.read_text(), page


def test_a_broken_link_fails_the_build(tmp_path: Path) -> None:
    done = build_site(tmp_path, broken_link=True)
    assert done.returncode != 0
    output = done.stdout + done.stderr
    assert "contains a link 'missing.md', but the target is not found" in output and "Aborted with 1 warnings in strict mode" in output
