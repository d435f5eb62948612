"""Fuzzing `clusterforge check`: whatever the file holds, it exits 0 or 2 and
speaks in located one-line messages, never a traceback.

Two sources of input, both starting from valid inventories (the reference
example and tests/data/full.yaml):
- structured: the data with keys deleted or inserted, values replaced, list
  items duplicated, dumped as YAML (generator.yamlio) or JSON;
- textual: the file's bytes with characters and lines deleted, inserted,
  replaced, duplicated or moved.

CLUSTERFORGE_FUZZ_EXAMPLES sets the examples per test (200 by default; CI runs more).
"""

from __future__ import annotations

import contextlib
import copy
import io
import json
import os
import re
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, currently_in_test_context, event, given, reject, settings
from hypothesis import strategies as st

from generator import yamlio
from generator.cli import main

ROOT = Path(__file__).parents[1]
SEEDS = {
    "example": ROOT / "generator" / "data" / "cluster.example.yaml",
    "full": Path(__file__).parent / "data" / "full.yaml",
}
SEED_BYTES = {name: path.read_bytes() for name, path in SEEDS.items()}
SEED_DATA = {name: json.loads(json.dumps(yamlio.loader().load(raw.decode()))) for name, raw in SEED_BYTES.items()}

FUZZ = settings(
    max_examples=int(os.environ.get("CLUSTERFORGE_FUZZ_EXAMPLES", "200")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.data_too_large],
)


# --- the property --------------------------------------------------------------

def check_outcome(raw: bytes, name: str = "cluster.yaml") -> int:
    """Run `clusterforge check` on `raw`, assert the CLI contract, return the exit code."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / name
        path.write_bytes(raw)
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stderr(err):
            code = main(["check", str(path)], out=out)
    lines = err.getvalue().split("\n")  # as a terminal shows them (str.splitlines also splits at \x1c, \x85...)
    assert lines.pop() == "", "stderr does not end with a newline"
    assert "Traceback" not in err.getvalue() + out.getvalue()
    assert code in (0, 2), code
    problems, count = (lines[:-1], lines[-1]) if code == 2 and lines else (lines, None)

    located = re.compile(rf"^(?:warning: )?{re.escape(name)}(?::(\d+))?: \S")
    unlocated = [line for line in problems if not located.match(line)]
    assert unlocated == [], "not located one-line messages"

    warnings = [line for line in problems if line.startswith("warning: ")]
    errors = [line for line in problems if not line.startswith("warning: ")]
    assert problems == warnings + errors, "warnings come first"
    if code == 0:
        assert errors == []
        assert out.getvalue().startswith(f"{path}: cluster ")
    else:
        assert errors, "exit 2 without an error"
        assert count == f"{len(errors)} error{'s' if len(errors) != 1 else ''}"
        assert out.getvalue() == ""

    last_line = len(raw.decode("utf-8", "replace").splitlines()) + 1  # every kind of line break counts
    for group in (warnings, errors):
        numbers = [int(located.match(line)[1] or 0) for line in group]
        assert numbers == sorted(numbers), "messages not sorted by line"
        assert all(number <= last_line for number in numbers), "a line number past the end of the file"
    if currently_in_test_context():
        event(f"exit {code}")
    return code


# --- structured mutations -----------------------------------------------------


def _leaves(node: Any) -> list[Any]:
    if isinstance(node, dict):
        return [leaf for key, value in node.items() for leaf in [key, *_leaves(value)]]
    if isinstance(node, list):
        return [leaf for value in node for leaf in _leaves(value)]
    return [node]


def _keys(node: Any) -> set[str]:
    if isinstance(node, dict):
        return set(node).union(*(_keys(value) for value in node.values()))
    if isinstance(node, list):
        return set().union(*(_keys(value) for value in node))
    return set()


# Keys of the inventory, to insert where they do not belong (or twice).
KNOWN_KEYS = sorted(set().union(*(_keys(seed) for seed in SEED_DATA.values())))
# Values that already mean something somewhere in an inventory (IPs, CIDRs,
# names, versions, roles), so moved values reach the semantic rules.
MEANINGFUL = sorted({repr(v): v for seed in SEED_DATA.values() for v in _leaves(seed)}.values(), key=repr)
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**31), max_value=2**31),
    st.integers(),  # huge and negative too
    st.sampled_from([0, -1, 65535, 65536, 4294967295, 4294967296, 2**64]),
    st.floats(),
    st.text(max_size=20),
    st.sampled_from(MEANINGFUL),
)
KEYS = st.sampled_from(KNOWN_KEYS) | st.text(max_size=12)
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(KEYS, inner, max_size=4),
    max_leaves=12,
)


def _containers(node: Any, here: tuple = ()) -> list[tuple]:
    """Paths to every mapping and list, the root included."""
    found = [here] if isinstance(node, (dict, list)) else []
    children = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else []
    for key, value in children:
        found += _containers(value, (*here, key))
    return found


def _at(node: Any, path: tuple) -> Any:
    for step in path:
        node = node[step]
    return node


def _pick(data: st.DataObject, doc: Any, want: type | tuple[type, ...], nonempty: bool = True) -> Any:
    choices = [p for p in _containers(doc) if isinstance(_at(doc, p), want) and (_at(doc, p) or not nonempty)]
    if not choices:
        reject()
    return _at(doc, data.draw(st.sampled_from(choices), label="container"))


def delete_key(data: st.DataObject, doc: Any) -> Any:
    mapping = _pick(data, doc, dict)
    del mapping[data.draw(st.sampled_from(list(mapping)), label="delete key")]
    return doc


def replace_value(data: st.DataObject, doc: Any) -> Any:
    container = _pick(data, doc, (dict, list))
    where = data.draw(st.sampled_from(list(container) if isinstance(container, dict) else range(len(container))), label="at")
    container[where] = data.draw(VALUES, label="new value")
    return doc


def duplicate_item(data: st.DataObject, doc: Any) -> Any:
    items = _pick(data, doc, list)
    item = data.draw(st.sampled_from(items), label="duplicate")
    items.insert(data.draw(st.integers(0, len(items)), label="at"), copy.deepcopy(item))
    return doc


def insert_key(data: st.DataObject, doc: Any) -> Any:
    mapping = _pick(data, doc, dict, nonempty=False)
    key = data.draw(KEYS, label="new key")
    mapping[key] = data.draw(VALUES, label="its value")
    return doc


def replace_document(data: st.DataObject, doc: Any) -> Any:
    return data.draw(VALUES, label="whole document")


STRUCTURED = [delete_key, delete_key, replace_value, replace_value, duplicate_item, insert_key, replace_document]


@FUZZ
@given(data=st.data())
def test_structured_mutations(data: st.DataObject) -> None:
    doc = copy.deepcopy(SEED_DATA[data.draw(st.sampled_from(sorted(SEED_DATA)), label="seed")])
    for _ in range(data.draw(st.integers(1, 3), label="mutations")):
        doc = data.draw(st.sampled_from(STRUCTURED), label="mutation")(data, doc)
    if data.draw(st.booleans(), label="as JSON"):
        text = json.dumps(doc, indent=data.draw(st.sampled_from([None, 2]), label="indent"))
    else:
        text = yamlio.dump(doc)
    check_outcome(text.encode("utf-8"))


# --- text mutations ------------------------------------------------------------

YAML_BITS = [
    ": ", "- ", "-", ":", "[", "]", "{", "}", ",", "&a ", "*a", "!!str ", "!x ", "#", "'", '"', "|\n", ">-\n",
    "---\n", "...\n", "%YAML 1.2\n", "\t", "\n", "  ", "? ", "<<: ", "~", "null", "yes", "0x1F", "1e9", ".inf",
    "1.35", "\ufeff", "é", "\u2028", "\r\n", "\\",
    # What the hostile-input probe used: digits Python will not print, other scripts' digits, shell.
    "9" * 5000, "0x" + "f" * 5000, "٣٥", "$(reboot)", "`id`", "; sh", "```",
]
SNIPPETS = st.one_of(
    st.sampled_from(YAML_BITS).map(str.encode),
    st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=8).map(str.encode),
    st.binary(max_size=3),
)


TEXT_EDITS = ["delete", "insert", "replace", "drop line", "copy line", "move line", "indent", "dedent"]


@st.composite
def edited_bytes(draw: st.DrawFn) -> bytes:
    raw = bytearray(SEED_BYTES[draw(st.sampled_from(sorted(SEED_BYTES)), label="seed")])
    for _ in range(draw(st.integers(1, 4), label="edits")):
        kind = draw(st.sampled_from(TEXT_EDITS), label="edit")
        if kind in ("delete", "insert", "replace"):
            start = draw(st.integers(0, len(raw)), label="at")
            end = start + (draw(st.integers(1, 12), label="length") if kind != "insert" else 0)
            raw[start:end] = draw(SNIPPETS, label="new bytes") if kind != "delete" else b""
            continue
        lines = bytes(raw).split(b"\n")
        i = draw(st.integers(0, len(lines) - 1), label="line")
        if kind == "drop line":
            del lines[i]
        elif kind == "copy line":
            lines.insert(draw(st.integers(0, len(lines)), label="to"), lines[i])
        elif kind == "move line":
            lines.insert(draw(st.integers(0, len(lines) - 1), label="to"), lines.pop(i))
        elif kind == "indent":
            lines[i] = b"  " + lines[i]
        else:
            lines[i] = lines[i][2:] if lines[i].startswith(b"  ") else lines[i].lstrip()
        raw = bytearray(b"\n".join(lines))
    return bytes(raw)


@FUZZ
@given(raw=edited_bytes())
def test_text_mutations(raw: bytes) -> None:
    check_outcome(raw)


def test_seeds_are_valid() -> None:
    """The fuzzers start from valid inventories, so the mutations are what breaks them."""
    for raw in SEED_BYTES.values():
        assert check_outcome(raw) == 0


# --- the dumper the structured fuzzer (and every renderer) relies on ----------


@pytest.mark.parametrize(
    "text",
    [
        "one line",
        "two\nlines\n",
        "a\ttab\nand a line\n",
        "trailing space \nhere",
        "bell\x07\nline",  # a literal block has no escapes: must be double-quoted
        "\x1e\n",
        "next\x85line\n",  # NEL would be read back as a line break
    ],
)
def test_dump_reads_back(text: str) -> None:
    assert yamlio.loader().load(yamlio.dump({"value": text})) == {"value": text}
