"""`clusterforge explain [PATH[:LINE] | TOPIC]`: which cluster.yaml fields made a
generated file or line, why it is that way, and the upstream source, in the
repository's docs language.

A line is explained by the topics whose markers it contains and by the
cluster.yaml values that appear in it; a file by its rule (files.py). Paths are
only ever compared with the names the repository has: nothing outside them is read.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import YAMLError

from .. import loader, writer, yamlio
from ..errors import ClusterforgeError
from ..model import Inventory
from ..render import layout, meta
from . import catalog, files, troubles
from .catalog import Language, Topic, Words

_LINE = re.compile(r"(?P<path>.+):(?P<line>[0-9]{1,9})")
# Inventory values shorter than this say nothing about a line ("ubuntu" does, "90" does not).
MIN_VALUE_LENGTH = 4
# Fields whose values are words of a fixed vocabulary (roles, modes): in a line they are prose, not provenance.
_VOCABULARY_KEYS = {"role", "router", "routingMode", "tunnelProtocol", "ipam", "encryption", "engine", "language", "mode", "branch"}

LABELS: dict[str, Words] = {
    "fields": Words("From cluster.yaml", "cluster.yaml のもとになる箇所"),
    "why": Words("Why", "理由"),
    "source": Words("Source", "出典"),
    "values": Words("Values from cluster.yaml in this line", "この行にある cluster.yaml の値"),
    "file": Words("The file", "ファイル"),
    "whole": Words("`clusterforge explain {path}` explains the whole file.", "`clusterforge explain {path}` でファイル全体を説明します。"),
    "no_topic": Words(
        "No explanation names this line; the file's topics are: {topics}.",
        "この行を名指しする説明はありません。ファイルのトピック: {topics}。",
    ),
    "symptom": Words("Symptom", "症状"),
    "check": Words("Check", "確認"),
    "shows": Words("What it shows", "表示"),
    "cause": Words("Cause", "原因"),
    "fix": Words("Fix", "対処"),
    "in_repo": Words("(run it inside the repository, or with -C, to see the commands for this cluster)", "（このクラスター用のコマンドはリポジトリ内か -C 付きで実行すると表示されます）"),
    "files": Words("Files", "ファイル"),
    "explained": Words("Explained in", "説明"),
    "topics": Words("Topics", "トピック"),
    "problems": Words("Troubleshooting", "トラブルシューティング"),
    "usage": Words(
        "clusterforge explain PATH[:LINE] | TOPIC: which cluster.yaml fields made a generated file or line, why, and the source.",
        "clusterforge explain PATH[:LINE] | TOPIC: 生成されたファイルや行をどの cluster.yaml のフィールドが作ったか、その理由と出典。",
    ),
}


class UnknownTarget(ClusterforgeError):
    """Neither a file of the repository nor a topic: exit 2 with the topics to choose from."""


@dataclass(frozen=True)
class Repository:
    """What explain needs from a repository: its inventory and its files' contents."""

    inventory: Inventory
    tree: dict[str, str]  # rendered tree plus the template's files that exist
    root: Path


def open_repository(root: Path) -> Repository | None:
    """The repository at `root`, or None when it has no cluster.yaml (topics need none).
    Only the files the repository is known to hold are read (the template's, and the runbooks
    `clusterforge plan` wrote), as the writer reads: never through a symbolic link, and never
    the secrets file's contents."""
    from .. import repo
    from ..render import tree

    if not (root / layout.INVENTORY).is_file():
        return None
    inv = repo.load(root).inventory
    known = dict(tree.render(inv))
    with writer.opened(root) as disk:
        for rel in [*files.template_files(inv), *_change_runbooks(disk)]:
            text = _read(disk, rel, secret=rel == layout.SECRETS_FILE)
            if text is not None:
                known[rel] = text
    return Repository(inv, known, root)


def _read(disk: writer.Tree, rel: str, *, secret: bool = False) -> str | None:
    """The regular file at `rel` (at most loader.MAX_BYTES; "" for a secret one, never read), or None."""
    try:
        if disk.kind(rel) != "file":
            return None
        if secret:
            return ""
        with disk.reading(rel) as file:
            raw = file.read(loader.MAX_BYTES + 1)
    except (ClusterforgeError, OSError):  # a link on the way, or it changed while read
        return None
    return raw.decode("utf-8", errors="replace") if len(raw) <= loader.MAX_BYTES else None


def _change_runbooks(disk: writer.Tree) -> list[str]:
    """The runbooks of changes that `clusterforge plan` wrote into docs/runbooks/."""
    try:
        folder = disk.folder(f"{layout.RUNBOOKS_DIR}/-")
    except ClusterforgeError:
        return []
    if folder is None:
        return []
    try:
        names = os.listdir(folder)
    finally:
        os.close(folder)
    return sorted(rel for name in names if layout.CHANGE_RUNBOOK.fullmatch(rel := f"{layout.RUNBOOKS_DIR}/{name}"))


def topic_ids() -> list[str]:
    return [*(t.id for t in catalog.TOPICS), *(t.id for t in troubles.TROUBLES)]


def unknown(target: str) -> UnknownTarget:
    return UnknownTarget(
        f"{target!r} is neither a file of this repository nor a topic. Give a generated file (e.g. kubeadm/NODE-init.yaml, "
        f"nodes/NODE/user-data:12) or one of these topics: {', '.join(topic_ids())}"
    )


def explain(target: str | None, repository: Repository | None, language: Language) -> str:
    if not target:
        return overview(language)
    if target in catalog.BY_ID:
        return topic_text(catalog.BY_ID[target], repository, language)
    if target in troubles.BY_ID:
        return trouble_text(troubles.BY_ID[target], repository, language)
    if repository is None:
        raise unknown(target)
    path, line = _split(target, repository)
    info = files.describe(repository.inventory, path)
    if info is None:  # a file the repository has but no rule knows would be a bug: say so plainly
        raise ClusterforgeError(f"{path} has no explanation yet (please report this)")
    if line is None:
        return file_text(path, info, language)
    return line_text(path, line, repository, info, language)


def _split(target: str, repository: Repository) -> tuple[str, int | None]:
    """(path in the repository, line or None) of `PATH[:LINE]`, or UnknownTarget."""
    candidates = [(target, None)]
    if m := _LINE.fullmatch(target):
        candidates.insert(0, (m["path"], int(m["line"])))
    for raw, line in candidates:
        path = _normalise(raw, repository.root)
        if path in repository.tree:
            if line is not None:
                count = len(repository.tree[path].splitlines())
                if not 1 <= line <= count:
                    raise ClusterforgeError(f"{path} has {count} lines; line {line} is not one of them")
            return path, line
    raise unknown(target)


def _normalise(raw: str, root: Path) -> str:
    """A repository-relative POSIX path for what the user typed (./x, or an absolute path inside the repository)."""
    candidate = Path(raw)
    if candidate.is_absolute():
        try:
            candidate = candidate.relative_to(root.resolve())
        except ValueError:
            return raw
    return candidate.as_posix().removeprefix("./")


# --- answers ---------------------------------------------------------------------------


def _label(key: str, language: Language, **values: object) -> str:
    return LABELS[key](language).format(**values)


def _topic_block(topic: Topic, language: Language, indent: str = "") -> list[str]:
    lines = [f"{indent}{topic.title(language)} ({topic.id})", f"{indent}  {topic.why(language)}"]
    if topic.fields:
        lines.append(f"{indent}  {_label('fields', language)}: {', '.join(topic.fields)}")
    lines.append(f"{indent}  {_label('source', language)}: {' '.join(topic.sources)}")
    return lines


def topic_text(topic: Topic, repository: Repository | None, language: Language) -> str:
    lines = _topic_block(topic, language)
    if repository is not None:
        where = [path for path in sorted(repository.tree) if (info := files.describe(repository.inventory, path)) and topic.id in info.topics]
        if where:
            lines.append(f"  {_label('files', language)}: {', '.join(where)}")
    return "\n".join(lines) + "\n"


def trouble_text(trouble: troubles.Trouble, repository: Repository | None, language: Language) -> str:
    lines = [f"{trouble.title(language)} ({trouble.id})", f"{_label('symptom', language)}: {trouble.symptom(language)}", f"{_label('check', language)}:"]
    if repository is not None:
        lines += [f"  {command}" for _, block in trouble.commands(repository.inventory) for command in block]
    else:
        lines.append(f"  {_label('in_repo', language)}")
    lines += [
        f"{_label('shows', language)}: {trouble.shows(language)}",
        f"{_label('cause', language)}: {trouble.cause(language)}",
        f"{_label('fix', language)}: {trouble.fix_for(repository.inventory if repository else None, language)}",
    ]
    return "\n".join(lines) + "\n"


def file_text(path: str, info: files.FileInfo, language: Language) -> str:
    lines = [f"{path}: {info.what(language)}"]
    if info.fields:
        lines.append(f"{_label('fields', language)}: {', '.join(info.fields)}")
    if info.topics:
        lines.append(f"{_label('why', language)}:")
        for topic_id in info.topics:
            lines += _topic_block(catalog.BY_ID[topic_id], language, indent="  ")
    return "\n".join(lines) + "\n"


def line_text(path: str, number: int, repository: Repository, info: files.FileInfo, language: Language) -> str:
    text = repository.tree[path].splitlines()[number - 1]
    lines = [f"{path}:{number}: {text.strip()}"]
    if path == layout.INVENTORY:
        return _inventory_line_text(lines, repository, number, info, language)
    values = list(inventory_values_in(repository.inventory, text))
    if values:
        lines.append(f"{_label('values', language)}: " + ", ".join(f"{value} = {field}" for field, value in values))
    topics = topics_of_line(text, info)
    for topic in topics:
        lines += _topic_block(topic, language)
    if not topics:
        titles = ", ".join(f"{catalog.BY_ID[t].title(language)} ({t})" for t in info.topics) or "-"
        lines.append(_label("no_topic", language, topics=titles))
    lines.append(f"{_label('file', language)}: {info.what(language)} {_label('whole', language, path=path)}")
    return "\n".join(lines) + "\n"


def topics_of_line(text: str, info: files.FileInfo) -> list[Topic]:
    """The topics whose markers the line contains: the file's own first, then any other."""
    own = [catalog.BY_ID[t] for t in info.topics]
    others = [t for t in catalog.TOPICS if t.id not in info.topics]
    return [topic for topic in [*own, *others] if any(marker in text for marker in topic.markers)]


def _inventory_line_text(lines: list[str], repository: Repository, number: int, info: files.FileInfo, language: Language) -> str:
    """A line of cluster.yaml: its fields, their descriptions, and the topics that name them."""
    inv = repository.inventory
    fields = inventory_fields_at(repository.tree[layout.INVENTORY], number)
    lines += [f"{field}: {description}" if description else field for field, description in fields]
    topics = [t for t in catalog.TOPICS if t.applies(inv) and any(_names_field(inv, t, field) for field, _ in fields)]
    if topics:
        lines.append(f"{_label('explained', language)}: " + ", ".join(f"{t.title(language)} ({t.id})" for t in topics))
    lines.append(f"{_label('file', language)}: {info.what(language)}")
    return "\n".join(lines) + "\n"


_NODE = re.compile(r"nodes\[(?P<index>[0-9]+)\]")


def _names_field(inv: Inventory, topic: Topic, field: str) -> bool:
    """Whether the topic is about the field: nodes[3].ip is nodes[].ip (of the roles the topic
    names, if it names any), and `network` covers network.subnet."""
    general = re.sub(r"\[[0-9]+\]", "[]", field)
    node = _NODE.match(field)
    role = inv.nodes[int(node["index"])].role if node and int(node["index"]) < len(inv.nodes) else None
    for named in topic.fields:
        name, _, roles = named.partition(" ")
        if roles and role is not None and role not in roles:
            continue
        if general == name or general.startswith((f"{name}.", f"{name}[")):
            return True
    return False


def inventory_fields_at(text: str, number: int) -> list[tuple[str, str]]:
    """(field path, schema description) of every cluster.yaml key on line `number`."""
    try:
        document = yamlio.loader().load(text)
    except YAMLError:
        return []
    schema = meta.inventory_schema()
    found: list[tuple[str, str]] = []

    def walk(node: object, path: str, spec: dict | None) -> None:
        if isinstance(node, CommentedMap):
            properties = (spec or {}).get("properties", {})
            for key in node:
                child_path, child_spec = f"{path}.{key}" if path else str(key), _schema_of(schema, properties.get(key))
                if node.lc.key(key)[0] + 1 == number:
                    found.append((child_path, (properties.get(key) or {}).get("description", "")))
                walk(node[key], child_path, child_spec)
        elif isinstance(node, CommentedSeq):
            item_spec = _schema_of(schema, (spec or {}).get("items"))
            for index, item in enumerate(node):
                walk(item, f"{path}[{index}]", item_spec)

    walk(document, "", schema)
    return found


def _schema_of(schema: dict, node: dict | None) -> dict | None:
    """The schema of a value, through $ref and optional (anyOf with null)."""
    if node is None:
        return None
    for option in node.get("anyOf", [node]):
        if "$ref" in option:
            return schema["$defs"][option["$ref"].rsplit("/", 1)[-1]]
        if option.get("type") in ("object", "array"):
            return option
    return node


def _leaves(data: object, path: str, key: str = "") -> Iterator[tuple[str, str, object]]:
    """(field path, key, value) of every scalar of the inventory's data."""
    if isinstance(data, dict):
        for k, v in data.items():
            yield from _leaves(v, f"{path}.{k}" if path else k, k)
    elif isinstance(data, list):
        for i, v in enumerate(data):
            yield from _leaves(v, f"{path}[{i}]", key)
    elif data is not None:
        yield path, key, data


def inventory_values_in(inv: Inventory, text: str) -> Iterator[tuple[str, str]]:
    """(field path, value) of the cluster.yaml values that appear in `text` as whole words."""
    data = inv.model_dump(mode="json", by_alias=True)
    for path, key, value in _leaves(data, ""):
        if isinstance(value, bool) or key in _VOCABULARY_KEYS:
            continue
        shown = str(value)
        if len(shown) < MIN_VALUE_LENGTH:
            continue
        if re.search(rf"(?<![0-9A-Za-z_.-]){re.escape(shown)}(?![0-9A-Za-z_-]|\.[0-9A-Za-z])", text) or (
            re.search(r"[0-9]+\.[0-9]+\.[0-9]+", shown) and f"v{shown}" in text
        ):
            yield path, shown


def overview(language: Language) -> str:
    lines = [_label("usage", language), "", f"{_label('topics', language)}:"]
    lines += [f"  {t.id:<26} {t.title(language)}" for t in catalog.TOPICS]
    lines += ["", f"{_label('problems', language)}:"]
    lines += [f"  {t.id:<26} {t.title(language)}" for t in troubles.TROUBLES]
    return "\n".join(lines) + "\n"
