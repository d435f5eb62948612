"""One report of every result, as text for people, JSON for scripts, JUnit XML for CI."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from dataclasses import asdict
from itertools import groupby

from .base import Result

FORMATS = ("text", "json", "junit")


def summary(results: Sequence[Result]) -> dict[str, int]:
    failed = sum(not r.ok for r in results)
    skipped = sum(r.skipped for r in results)
    return {"passed": len(results) - failed - skipped, "failed": failed, "skipped": skipped}


def exit_code(results: Sequence[Result], strict: bool = False) -> int:
    """1 on any failure, and with `strict` (CI) on any check skipped for want of its tool."""
    return 1 if any(not r.ok or (strict and r.skipped) for r in results) else 0


def _status(r: Result) -> str:
    return "SKIP" if r.skipped else "PASS" if r.ok else "FAIL"


def skip_warning(results: Sequence[Result], strict: bool = False) -> str:
    """The last line when checks were skipped: which tools are missing, and what that means."""
    checks = sorted({r.check for r in results if r.skipped})
    if not checks:
        return ""
    verdict = "--strict fails on it" if strict else "not a failure without --strict (CI uses it)"
    return f"warning: {len(checks)} check(s) skipped for want of their tool ({', '.join(checks)}): {verdict}"


def _indent(text: str, prefix: str = "    ") -> str:
    return "\n".join(prefix + line for line in text.splitlines())


def _detail(r: Result) -> list[str]:
    """A result in full: status, check, file, then the tool's words and the hint, indented."""
    lines = [f"{_status(r)}  {r.check}  {r.file}"]
    if r.message:
        lines.append(_indent(r.message))
    if r.hint and (not r.ok or r.skipped):
        lines.append(f"    hint: {r.hint}")
    return lines


def _check_line(check: str, members: Sequence[Result], width: int, seconds: float | None) -> str:
    failed, skipped = sum(not r.ok for r in members), sum(r.skipped for r in members)
    status = "FAIL" if failed else "SKIP" if skipped else "PASS"
    count = f"{len(members)} file{'s' if len(members) != 1 else ''}"
    count += f", {failed} failed" if failed else f", {skipped} skipped" if skipped else ""
    took = f"  {seconds:.2f} s" if seconds is not None else ""
    return f"{status}  {check:<{width}}  {count}{took}"


def text(results: Sequence[Result], strict: bool = False, *, verbose: bool = False, timings: Mapping[str, float] | None = None) -> str:
    """One line per check (its file count and, given `timings`, the seconds its jobs took),
    then every failure in full; `verbose` shows every result in full, the passes too. A check
    skipped for want of its tool shows its first file in full: the hint says what to install."""
    by_check = {check: list(group) for check, group in groupby(sorted(results, key=lambda r: r.check), key=lambda r: r.check)}
    width = max((len(check) for check in by_check), default=0)
    lines = [_check_line(check, members, width, None if timings is None else timings.get(check, 0.0)) for check, members in by_check.items()]
    for members in by_check.values():
        shown = members if verbose else [r for r in members if not r.ok] or [r for r in members if r.skipped][:1]
        for r in shown:
            lines += _detail(r)
    counts = summary(results)
    lines.append(f"{counts['passed']} passed, {counts['failed']} failed, {counts['skipped']} skipped")
    if warning := skip_warning(results, strict):
        lines.append(warning)
    return "\n".join(lines) + "\n"


def as_json(results: Sequence[Result]) -> str:
    return json.dumps({"results": [asdict(r) for r in results], "summary": summary(results)}, indent=2) + "\n"


def junit(results: Sequence[Result], timings: Mapping[str, float] | None = None) -> str:
    """A testsuite per check (with the seconds its jobs took, given `timings`), a testcase per
    file, a failure element per failing result, a skipped element per skipped one."""
    counts = summary(results)
    suites = ET.Element("testsuites", tests=str(len(results)), failures=str(counts["failed"]), skipped=str(counts["skipped"]))
    ordered = sorted(results, key=lambda r: (r.check, r.file))
    for check, group in groupby(ordered, key=lambda r: r.check):
        members = list(group)
        suite = ET.SubElement(
            suites, "testsuite", name=check, tests=str(len(members)), failures=str(sum(not r.ok for r in members)),
            skipped=str(sum(r.skipped for r in members)),
        )
        if timings is not None:
            suite.set("time", f"{timings.get(check, 0.0):.3f}")
        for r in members:
            case = ET.SubElement(suite, "testcase", classname=check, name=r.file)
            if r.skipped:
                ET.SubElement(case, "skipped", message=r.message).text = f"hint: {r.hint}" if r.hint else None
            elif not r.ok:
                first = r.message.splitlines()[0] if r.message else "failed"
                failure = ET.SubElement(case, "failure", message=first)
                failure.text = "\n".join(part for part in (r.message, f"hint: {r.hint}" if r.hint else "") if part)
            elif r.message:
                ET.SubElement(case, "system-out").text = r.message
    ET.indent(suites)
    return ET.tostring(suites, encoding="unicode", xml_declaration=True) + "\n"


def render(
    results: Sequence[Result], fmt: str, strict: bool = False, *, verbose: bool = False, timings: Mapping[str, float] | None = None
) -> str:
    if fmt == "json":
        return as_json(results)
    if fmt == "junit":
        return junit(results, timings)
    return text(results, strict, verbose=verbose, timings=timings)
