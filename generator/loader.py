"""cluster.yaml -> Inventory, with every problem located at `cluster.yaml:LINE: PATH`.

Hostile input is refused before it can cost anything: size, nesting depth,
node count, the length of numbers and YAML aliases are checked on the parser's
event stream, before a document is built.
"""

from __future__ import annotations

import codecs
import difflib
import os
import re
import stat
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any, get_args

from pydantic import BaseModel, ValidationError
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.reader import ReaderError
from ruamel.yaml.events import (
    AliasEvent,
    CollectionEndEvent,
    CollectionStartEvent,
    DocumentStartEvent,
    NodeEvent,
    ScalarEvent,
    SequenceStartEvent,
)

from . import formats, rules, yamlio
from .errors import InventoryError, Problem
from .model import Inventory

MAX_BYTES = 1_000_000
MAX_DEPTH = 20
MAX_NODES = 50_000
MAX_NUMBER_CHARACTERS = 64  # the longest number an inventory needs, an AS number, has 10 digits

Loc = tuple[str | int, ...]


@dataclass(frozen=True)
class Checked:
    """An inventory that passed every rule, and the warnings it raised."""

    inventory: Inventory
    warnings: list[Problem]


def check_file(path: Path) -> Checked:
    return check_bytes(read_bytes(path), path.name)


def read_text(path: Path) -> str:
    """An inventory file's text, refused with the same messages as `check`."""
    return _decode(read_bytes(path), path.name)


def read_bytes(path: Path) -> bytes:
    """The file's bytes, reading no more than one byte past the size limit; only a regular
    file is read (a FIFO would block until a writer comes, /dev/zero never ends)."""
    source = path.name
    try:
        # O_NONBLOCK: opening a FIFO waits for a writer without it; regular files ignore it.
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        raise _fail(source, f"no such file: {path} (start from `clusterforge example > cluster.yaml`)") from None
    except OSError as exc:
        raise _fail(source, f"cannot read {path}: {exc.strerror}") from None
    try:
        mode = os.fstat(fd).st_mode
        if stat.S_ISDIR(mode):
            raise _fail(source, f"{path} is a directory, not an inventory file")
        if not stat.S_ISREG(mode):
            raise _fail(source, f"{path} is {_file_kind(mode)}, not a regular file: save the inventory to a file first")
        raw = _read_at_most(fd, MAX_BYTES + 1)
        size = max(os.fstat(fd).st_size, len(raw))
    except OSError as exc:
        raise _fail(source, f"cannot read {path}: {exc.strerror}") from None
    finally:
        os.close(fd)
    if size > MAX_BYTES:
        raise _fail(source, f"the file is {size} bytes; an inventory is at most {MAX_BYTES} bytes")
    return raw


def _read_at_most(fd: int, limit: int) -> bytes:
    chunks: list[bytes] = []
    while limit > 0 and (chunk := os.read(fd, min(limit, 1 << 20))):
        chunks.append(chunk)
        limit -= len(chunk)
    return b"".join(chunks)


def _file_kind(mode: int) -> str:
    kinds = ((stat.S_ISFIFO, "a FIFO (named pipe)"), (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"))
    return next((kind for test, kind in kinds if test(mode)), "not a file")


def check_bytes(raw: bytes, source: str = "cluster.yaml") -> Checked:
    return check_text(_decode(raw, source), source)


def _decode(raw: bytes, source: str) -> str:
    if len(raw) > MAX_BYTES:
        raise _fail(source, f"the file is {len(raw)} bytes; an inventory is at most {MAX_BYTES} bytes")
    try:
        # Windows editors may open the file with a byte order mark: every command reads it without.
        return raw.removeprefix(codecs.BOM_UTF8).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _fail(source, f"not UTF-8 text (byte {exc.start})") from None


def check_text(text: str, source: str = "cluster.yaml") -> Checked:
    if not text.strip():
        raise _fail(source, "the file is empty; start from `clusterforge example`")
    _prescan(text, source)
    try:
        document = yamlio.loader().load(text)
    except MarkedYAMLError as exc:
        raise _yaml_error(exc, source) from None
    except YAMLError as exc:
        raise _fail(source, f"not valid YAML: {exc}") from None
    if not isinstance(document, CommentedMap):
        kind = "empty" if document is None else f"a {_yaml_kind(document)}"
        raise _fail(source, f"the top level must be a mapping (name:, kubernetes:, nodes: ...), not {kind}")

    lines: dict[Loc, int] = {}
    problems: list[Problem] = []
    data = _plain(document, (), lines, problems, source)
    if problems:
        raise InventoryError(problems)
    locate = _Locator(source, lines, _node_names(data))
    try:
        inventory = Inventory.model_validate(data)
    except ValidationError as exc:
        raise InventoryError([_pydantic_problem(err, data, locate) for err in exc.errors()]) from None

    errors, warnings = rules.check(inventory)
    located_warnings = [locate(f.path, f.message) for f in warnings]
    if errors:
        raise InventoryError([locate(f.path, f.message) for f in errors], located_warnings)
    return Checked(inventory, sorted(located_warnings))


def _fail(source: str, message: str, line: int = 0) -> InventoryError:
    return InventoryError([Problem(line, "", message, source)])


def _prescan(text: str, source: str) -> None:
    """Walk the event stream once: no aliases, one document, bounded depth, size and numbers."""
    depth = nodes = documents = 0
    where = _Where()
    try:
        for event in yamlio.loader().parse(text):
            line = event.start_mark.line + 1 if event.start_mark else 0
            if isinstance(event, AliasEvent):
                raise _fail(source, f"YAML aliases (*{event.anchor}) are not allowed: write the value out", line)
            if getattr(event, "tag", None) is not None:
                # Explicit tags (!!python/object, !vault, !!binary...) build values no inventory field takes.
                raise _fail(source, f"YAML tag {event.tag!r} is not supported: write plain values", line)
            if isinstance(event, DocumentStartEvent):
                documents += 1
                if documents > 1:
                    raise _fail(source, "more than one YAML document: cluster.yaml holds exactly one", line)
            if isinstance(event, NodeEvent):
                nodes += 1
                if nodes > MAX_NODES:
                    raise _fail(source, f"more than {MAX_NODES} YAML values: this is not an inventory", line)
                path = where.node(event)
                if isinstance(event, ScalarEvent) and _is_long_integer(event):
                    # Python refuses to turn an int of over 4,300 digits into text, and no field takes one.
                    message = f"a number of {len(event.value)} characters: no inventory field takes one longer than {MAX_NUMBER_CHARACTERS}"
                    raise InventoryError([Problem(line, rules.show_path(path), message, source)])
            if isinstance(event, CollectionStartEvent):
                depth += 1
                if depth > MAX_DEPTH:
                    raise _fail(source, f"nested deeper than {MAX_DEPTH} levels: this is not an inventory", line)
            elif isinstance(event, CollectionEndEvent):
                depth -= 1
                where.end()
    except MarkedYAMLError as exc:
        raise _yaml_error(exc, source) from None
    except ReaderError as exc:
        line = text.count("\n", 0, exc.position) + 1
        raise _fail(source, f"not valid YAML: unacceptable character #x{exc.character:04x}: {exc.reason}", line) from None
    except YAMLError as exc:
        raise _fail(source, f"not valid YAML: {exc}") from None
    except AssertionError as exc:  # ruamel asserts on a `%YAML 1.N` directive other than 1.1 and 1.2
        raise _fail(source, f"not valid YAML: {exc}") from None


def _is_long_integer(event: ScalarEvent) -> bool:
    return event.style is None and len(event.value) > MAX_NUMBER_CHARACTERS and _YAML_INTEGER.fullmatch(event.value) is not None


@dataclass
class _Frame:
    path: Loc
    index: int | None  # the next item's index in a list; None in a mapping
    key: Any = None  # in a mapping: the key whose value comes next, or None when a key comes next


class _Where:
    """The field path of each node as the event stream goes by (mapping keys, list indexes)."""

    def __init__(self) -> None:
        self.frames: list[_Frame] = []  # one per open collection

    def node(self, event: NodeEvent) -> Loc:
        """The path of the node this event starts (a mapping key has its mapping's path)."""
        path: Loc = ()
        if self.frames:
            frame = self.frames[-1]
            if frame.index is not None:
                path, frame.index = (*frame.path, frame.index), frame.index + 1
            elif frame.key is None:
                path, frame.key = frame.path, event.value if isinstance(event, ScalarEvent) else "?"
            else:
                path, frame.key = (*frame.path, frame.key), None
        if isinstance(event, CollectionStartEvent):
            self.frames.append(_Frame(path, 0 if isinstance(event, SequenceStartEvent) else None))
        return path

    def end(self) -> None:
        self.frames.pop()


# Every plain scalar ruamel reads as an int, in YAML 1.2 and 1.1 (sexagesimal 1:20:30 included).
_YAML_INTEGER = re.compile(r"[-+]?(?:0b[01_]+|0o?[0-7_]+|[0-9_]+|0x[0-9a-fA-F_]+|[1-9][0-9_]*(?::[0-5]?[0-9])+)", re.ASCII)


def _yaml_error(exc: MarkedYAMLError, source: str) -> InventoryError:
    mark = exc.problem_mark or exc.context_mark
    if exc.context_mark and ("end of stream" in str(exc.problem) or "<stream end>" in str(exc.problem)):
        mark = exc.context_mark  # the end of the file says nothing: point at what was left open
    line = mark.line + 1 if mark else 0
    what = " ".join(str(part) for part in (exc.context, exc.problem) if part)
    if "duplicate key" in what:
        key = str(exc.problem).split('"')[1] if '"' in str(exc.problem) else ""
        what = f"duplicate key {key!r}: each key may appear once in a mapping"
    return _fail(source, f"not valid YAML: {what}", line)


def _yaml_kind(value: Any) -> str:
    """What a value is, in YAML's words."""
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "list"
    if isinstance(value, dict):
        return "mapping"
    if isinstance(value, (date, datetime)):
        return "date"
    return type(value).__name__


def _plain(node: Any, loc: Loc, lines: dict[Loc, int], problems: list[Problem], source: str) -> Any:
    """ruamel's round-trip objects -> plain Python, recording the line of every value."""
    if isinstance(node, CommentedMap):
        out = {}
        for key in node:
            line = _line_of(lambda: node.lc.key(key), lines.get(loc, 0))
            if not isinstance(key, str):
                problems.append(Problem(line, rules.show_path(loc), f"key {key!r} is not a string", source))
                continue
            lines[(*loc, key)] = line
            out[key] = _plain(node[key], (*loc, key), lines, problems, source)
        return out
    if isinstance(node, CommentedSeq):
        out_list = []
        for index, item in enumerate(node):
            lines[(*loc, index)] = _line_of(lambda: node.lc.item(index), lines.get(loc, 0))
            out_list.append(_plain(item, (*loc, index), lines, problems, source))
        return out_list
    if isinstance(node, bool) or node is None:
        return node
    for plain_type in (int, float, str):  # ScalarInt, ScalarFloat, ScalarString...
        if isinstance(node, plain_type):
            return plain_type(node)
    return node  # dates and the like: pydantic names the wrong type


def _unknown_key(loc: Loc) -> str:
    allowed = _keys_of(_model_at(loc[:-1]))
    if not allowed:
        return "unknown key (see `clusterforge schema` for the keys allowed here)"
    close = difflib.get_close_matches(str(loc[-1]), allowed, n=1)
    guess = f"did you mean {close[0]!r}? " if close else ""
    return f"unknown key; {guess}allowed here: {', '.join(allowed)}"


def _model_at(loc: Loc) -> type[BaseModel] | None:
    """The inventory model that the mapping at `loc` is validated as."""
    model: type[BaseModel] | None = Inventory
    for step in loc:
        if isinstance(step, int) or model is None:
            continue  # list items have their list's model
        field = next((f for name, f in model.model_fields.items() if (f.alias or name) == step), None)
        model = _model_in(field.annotation) if field else None
    return model


def _model_in(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    return next((m for arg in get_args(annotation) if (m := _model_in(arg))), None)


def _keys_of(model: type[BaseModel] | None) -> list[str]:
    return [field.alias or name for name, field in model.model_fields.items()] if model else []


def _line_of(position: Callable[[], Any], fallback: int) -> int:
    """ruamel's recorded position of a key or item, or the parent's line where it kept none."""
    try:
        found = position()
    except (KeyError, IndexError):
        return fallback
    return found[0] + 1 if found else fallback


@dataclass(frozen=True)
class _Locator:
    """Field path + message -> a Problem at the line of the deepest part of the path
    that is in the file; a node's path names the node (`nodes[3] (worker1).ip`)."""

    source: str
    lines: dict[Loc, int]
    node_names: dict[int, str]

    def __call__(self, loc: Loc, message: str) -> Problem:
        line = next((self.lines[loc[:cut]] for cut in range(len(loc), 0, -1) if loc[:cut] in self.lines), 0)
        return Problem(line, self.show(loc), message, self.source)

    def show(self, loc: Loc) -> str:
        shown = rules.show_path(loc)
        if loc[:1] == ("nodes",) and len(loc) > 1 and loc[1] in self.node_names:
            node = rules.show_path(loc[:2])
            shown = f"{node} ({self.node_names[loc[1]]}){shown[len(node):]}"
        return shown


def _node_names(data: dict[str, Any]) -> dict[int, str]:
    """Index -> name of the nodes whose name is valid (so it is safe and short to show)."""
    nodes = data.get("nodes")
    if not isinstance(nodes, list):
        return {}
    names = {i: node.get("name") for i, node in enumerate(nodes) if isinstance(node, dict)}
    return {i: name for i, name in names.items() if isinstance(name, str) and formats.is_label(name)}


def _pydantic_problem(err: Any, data: Any, locate: _Locator) -> Problem:
    # pydantic adds non-field steps to `loc` (union members, validator names):
    # keep only the steps that walk the actual data, plus a final missing key.
    loc: list[str | int] = []
    node = data
    for step in err["loc"]:
        if isinstance(node, dict) and step in node:
            node = node[step]
        elif isinstance(node, list) and isinstance(step, int) and 0 <= step < len(node):
            node = node[step]
        elif err["type"] == "missing" and step == err["loc"][-1]:
            pass
        else:
            continue
        loc.append(step)
    return locate(tuple(loc), _message(err, tuple(loc)))


def _message(err: Any, loc: Loc) -> str:
    kind, msg = err["type"], err["msg"]
    if kind == "missing":
        return "required, but missing"
    if kind == "extra_forbidden":
        return _unknown_key(loc)
    if kind == "value_error":
        return msg.removeprefix("Value error, ")
    if kind == "too_long":  # the limits of model.py, on lists and mappings
        limit = err["ctx"]["max_length"]
        return f"{len(err['input'])} entries, more than the {limit} clusterforge takes (a limit that keeps render and validate fast)"
    value = err.get("input")
    if isinstance(value, str):
        shown = formats.shown(value)
    else:
        shown = repr(value) if isinstance(value, (int, float, bool)) or value is None else _yaml_kind(value)
    return f"{msg[0].lower()}{msg[1:]} (got {shown})"
