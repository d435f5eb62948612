"""The guide beside the README: docs/troubleshooting.md (the known failures: symptom,
the commands that show it, cause, fix) and docs/decisions.md (why the repository
is the way it is), in English and, when docs.language is ja, in Japanese too.

Both pages are rendered from explain/ (troubles.py, catalog.py), the same data
`clusterforge explain` answers from.
"""

from __future__ import annotations

import posixpath

from ..explain import catalog, troubles
from ..explain.catalog import Language, Words
from ..model import Inventory
from . import layout

LABELS: dict[str, Words] = {
    "troubleshooting": Words("Troubleshooting {name}", "{name} のトラブルシューティング"),
    "troubleshooting_intro": Words(
        "The failures this setup is known for. Each says what you see, the commands that show it and what they show "
        "then, the cause and the fix. `clusterforge explain ID` prints an entry in the terminal.",
        "この構成で起こりやすい障害です。見える症状、それを確かめるコマンドとそのときの表示、原因と対処を示します。"
        "`clusterforge explain ID` で端末にも表示できます。",
    ),
    "decisions": Words("Why {name} is built this way", "{name} がこう作られている理由"),
    "decisions_intro": Words(
        "Every choice in this repository with its reason, the cluster.yaml fields involved and the upstream source. "
        "`clusterforge explain TOPIC` prints one in the terminal; `clusterforge explain FILE[:LINE]` says which fields and "
        "reasons made a generated file or line.",
        "このリポジトリのすべての選択と、その理由、関わる cluster.yaml のフィールド、上流の出典です。`clusterforge explain TOPIC` で"
        "端末にも表示でき、`clusterforge explain FILE[:LINE]` は生成されたファイルや行をどのフィールドと理由が作ったかを示します。",
    ),
    "other": Words("日本語版: [{file}]({file})", "English: [{file}]({file})"),
    "symptom": Words("Symptom", "症状"),
    "check": Words("Check", "確認"),
    "shows": Words("What it shows", "表示"),
    "cause": Words("Cause", "原因"),
    "fix": Words("Fix", "対処"),
    "background": Words("Background", "背景"),
    "fields": Words("cluster.yaml fields", "cluster.yaml のフィールド"),
    "source": Words("Source", "出典"),
    "none": Words("(none: the same for every cluster)", "（なし: どのクラスターでも同じ）"),
}


def render(inv: Inventory) -> dict[str, str]:
    files: dict[str, str] = {}
    for language in languages(inv):
        files[layout.localized(layout.TROUBLESHOOTING, language)] = troubleshooting(inv, language)
        files[layout.localized(layout.DECISIONS, language)] = decisions(inv, language)
    return files


def languages(inv: Inventory) -> list[Language]:
    """English always (the README's rule); Japanese too when docs.language is ja."""
    return ["en", "ja"] if inv.docs.language == "ja" else ["en"]


def _other(inv: Inventory, page: str, language: Language) -> list[str]:
    if inv.docs.language != "ja":
        return []
    other: Language = "ja" if language == "en" else "en"
    name = posixpath.basename(layout.localized(page, other))
    return [LABELS["other"](language).format(file=name), ""]


def _code(language: str, lines: list[str]) -> list[str]:
    return [f"```{language}", *lines, "```", ""]


def anchor(identifier: str) -> str:
    """An explicit anchor: heading ids differ between renderers for Japanese text."""
    return f'<a id="{identifier}"></a>'


def troubleshooting(inv: Inventory, language: Language) -> str:
    label = {key: words(language) for key, words in LABELS.items()}
    entries = troubles.applicable(inv)
    decisions_page = posixpath.basename(layout.localized(layout.DECISIONS, language))
    lines = [f"# {label['troubleshooting'].format(name=inv.name)}", "", *_other(inv, layout.TROUBLESHOOTING, language)]
    lines += [label["troubleshooting_intro"], ""]
    lines += [f"- [{entry.title(language)}](#{entry.id}) (`{entry.id}`)" for entry in entries] + [""]
    for entry in entries:
        lines += [anchor(entry.id), "", f"## {entry.title(language)}", ""]
        lines += [f"**{label['symptom']}:** {entry.symptom(language)}", ""]
        lines += [f"**{label['check']}:**", ""]
        for fence, commands in entry.commands(inv):
            lines += _code(fence, commands)
        lines += [f"**{label['shows']}:** {entry.shows(language)}", ""]
        lines += [f"**{label['cause']}:** {entry.cause(language)}", ""]
        lines += [f"**{label['fix']}:** {entry.fix_for(inv, language)}", ""]
        background = [catalog.BY_ID[topic] for topic in entry.topics if catalog.BY_ID[topic].applies(inv)]
        if background:
            links = ", ".join(f"[{topic.title(language)}]({decisions_page}#{topic.id})" for topic in background)
            lines += [f"**{label['background']}:** {links}", ""]
    return layout.page(lines)


def decisions(inv: Inventory, language: Language) -> str:
    label = {key: words(language) for key, words in LABELS.items()}
    topics = [topic for topic in catalog.TOPICS if topic.applies(inv)]
    lines = [f"# {label['decisions'].format(name=inv.name)}", "", *_other(inv, layout.DECISIONS, language)]
    lines += [label["decisions_intro"], ""]
    lines += [f"- [{topic.title(language)}](#{topic.id}) (`{topic.id}`)" for topic in topics] + [""]
    for topic in topics:
        fields = ", ".join(f"`{field}`" for field in topic.fields) or label["none"]
        lines += [anchor(topic.id), "", f"## {topic.title(language)}", "", topic.why(language), ""]
        lines += [f"- {label['fields']}: {fields}"]
        lines += [f"- {label['source']}: {', '.join(f'<{url}>' for url in topic.sources)}"]
        lines += [f"- `clusterforge explain {topic.id}`", ""]
    return layout.page(lines)
