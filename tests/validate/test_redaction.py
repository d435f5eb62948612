"""No value of the secrets file in a validate report (any format) or in the result cache,
even when a tool quotes the line a person pasted it into."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest

from generator import repo as repository
from generator.render import layout
from generator.secrets import named_values
from generator.validate import caches, commands, runner
from generator.validate.base import Context, Job, Result
from generator.validate.checks import daemons
from support import copy

from . import NeedTool

HAPROXY_CFG = "loadbalancers/haproxy1/haproxy.cfg"


@pytest.mark.tools
@pytest.mark.parametrize("fmt", ["text", "json", "junit"])
def test_pasted_secrets_are_redacted_from_every_report(
    fmt: str, reference: Path, tmp_path: Path, need_tool: NeedTool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """haproxy quotes an unknown keyword: the token's 6-character id, the token, the certificate key."""
    need_tool("haproxy")
    root = copy(reference, tmp_path)
    values = repository.read_secrets(root)
    token_id = values.bootstrap_token.split(".")[0]
    config = root / HAPROXY_CFG
    pasted = f"    {token_id} x\n    {values.bootstrap_token} x\n    {values.certificate_key} x\n"
    config.write_text(config.read_text().replace("    balance roundrobin\n", "    balance roundrobin\n" + pasted, 1))
    monkeypatch.setenv(caches.CACHE_ENV, str(tmp_path / "cache"))
    monkeypatch.setattr(runner, "check_modules", lambda: [daemons.haproxy_jobs])

    out = io.StringIO()
    assert commands.validate_command(root, fmt, False, out) == 1
    report = out.getvalue()
    for marker in ("<redacted bootstrapToken id>", "<redacted bootstrapToken>", "<redacted certificateKey>"):
        assert marker.replace("<", "&lt;").replace(">", "&gt;") in report if fmt == "junit" else marker in report
    cached = "".join(p.read_text() for p in caches.results_dir(tmp_path / "cache").glob("*.json"))
    assert "unknown keyword" in cached
    for value in named_values(values).values():
        assert value not in report and value not in cached

    out = io.StringIO()  # from the cache now: still clean (only the checks' times differ)
    assert commands.validate_command(root, fmt, False, out) == 1
    assert untimed(out.getvalue()) == untimed(report)


def untimed(report: str) -> str:
    return re.sub(r'  [0-9]+\.[0-9]+ s$| time="[0-9.]+"', "", report, flags=re.M)


def test_results_cached_before_the_secrets_were_known_are_redacted_when_read(
    reference: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A result stored without redaction (an older clusterforge, another secrets file) is cleaned on its way out."""
    root = copy(reference, tmp_path)
    key = repository.read_secrets(root).certificate_key
    (root / layout.SECRETS_FILE).rename(tmp_path / "secrets.yaml")

    def jobs(_: Context) -> list[Job]:
        def run() -> list[Result]:
            return [Result("echo", "README.md", False, f"quoted: {key}")]

        return [Job("echo", ("README.md",), run)]

    monkeypatch.setenv(caches.CACHE_ENV, str(tmp_path / "cache"))
    monkeypatch.setattr(runner, "check_modules", lambda: [jobs])
    out = io.StringIO()
    commands.validate_command(root, "text", False, out)
    assert key in out.getvalue()  # no secrets file: nothing to redact with
    (tmp_path / "secrets.yaml").rename(root / layout.SECRETS_FILE)
    out = io.StringIO()
    commands.validate_command(root, "text", False, out)
    assert "quoted: <redacted certificateKey>" in out.getvalue() and key not in out.getvalue()
