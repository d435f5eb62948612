"""One report of every result, as text for people, JSON for scripts, JUnit XML for CI."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import asdict
from itertools import groupby

from .base import Result

FORMATS = ("text", "json", "junit")


def summary(results: Sequence[Result]) -> dict[str, int]:
    failed = sum(not r.ok for r in results)
    return {"passed": len(results) - failed, "failed": failed}


def exit_code(results: Sequence[Result]) -> int:
    return 1 if any(not r.ok for r in results) else 0


def _indent(text: str, prefix: str = "    ") -> str:
    return "\n".join(prefix + line for line in text.splitlines())


def text(results: Sequence[Result]) -> str:
    lines = []
    for r in results:
        lines.append(f"{'PASS' if r.ok else 'FAIL'}  {r.check}  {r.file}")
        if r.message:
            lines.append(_indent(r.message))
        if r.hint and not r.ok:
            lines.append(f"    hint: {r.hint}")
    counts = summary(results)
    lines.append(f"{counts['passed']} passed, {counts['failed']} failed")
    return "\n".join(lines) + "\n"


def as_json(results: Sequence[Result]) -> str:
    return json.dumps({"results": [asdict(r) for r in results], "summary": summary(results)}, indent=2) + "\n"


def junit(results: Sequence[Result]) -> str:
    """A testsuite per check, a testcase per file, a failure element per failing result."""
    suites = ET.Element("testsuites", tests=str(len(results)), failures=str(summary(results)["failed"]))
    ordered = sorted(results, key=lambda r: (r.check, r.file))
    for check, group in groupby(ordered, key=lambda r: r.check):
        members = list(group)
        suite = ET.SubElement(
            suites, "testsuite", name=check, tests=str(len(members)), failures=str(sum(not r.ok for r in members))
        )
        for r in members:
            case = ET.SubElement(suite, "testcase", classname=check, name=r.file)
            if not r.ok:
                first = r.message.splitlines()[0] if r.message else "failed"
                failure = ET.SubElement(case, "failure", message=first)
                failure.text = "\n".join(part for part in (r.message, f"hint: {r.hint}" if r.hint else "") if part)
            elif r.message:
                ET.SubElement(case, "system-out").text = r.message
    ET.indent(suites)
    return ET.tostring(suites, encoding="unicode", xml_declaration=True) + "\n"


def render(results: Sequence[Result], fmt: str) -> str:
    if fmt == "json":
        return as_json(results)
    if fmt == "junit":
        return junit(results)
    return text(results)
