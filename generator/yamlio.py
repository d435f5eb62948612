"""The one configured ruamel.yaml: a line-keeping loader for inventories and a
deterministic dumper for everything we render. No module-level instances:
callers get a fresh, fully configured object each time."""

from __future__ import annotations

import io
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.constructor import ConstructorError, RoundTripConstructor
from ruamel.yaml.representer import SafeRepresenter
from ruamel.yaml.resolver import VersionedResolver


class _Constructor(RoundTripConstructor):
    """ruamel raises bare ValueError/KeyError/IndexError for scalars that only look
    like a date or a number (`2024-02-30`, `0x_`): make them YAML errors with a mark."""

    def construct_object(self, node: Any, deep: bool = False) -> Any:
        try:
            return super().construct_object(node, deep=deep)
        except (ValueError, KeyError, IndexError, OverflowError) as exc:
            kind = str(getattr(node.tag, "value", node.tag)).rsplit(":", 1)[-1]
            why = f" ({exc})" if isinstance(exc, ValueError) else ""
            raise ConstructorError(None, None, f"{node.value!r} is not a valid YAML {kind}{why}; quote it if it is text", node.start_mark) from None


def loader() -> YAML:
    """Round-trip loader: keeps line numbers so errors can point at cluster.yaml:LINE."""
    yaml = YAML(typ="rt")
    yaml.Constructor = _Constructor
    yaml.allow_duplicate_keys = False
    return yaml


class _Yaml11SafeResolver(VersionedResolver):
    """Quote what YAML 1.1 readers (go-yaml in kubectl, Flux, Helm) would not
    read back as a string, such as `on`, `yes` or `1:20`, without emitting a
    `%YAML 1.1` directive."""

    @property
    def processing_version(self) -> tuple[int, int]:
        return (1, 1)


class _Representer(SafeRepresenter):
    def represent_str(self, data: str) -> Any:
        # Scripts and embedded configs stay readable (and diffable) as literal blocks.
        printable = all(char in "\n\t" or char.isprintable() for char in data)  # block scalars have no escapes
        if "\n" in data and printable and not any(line != line.rstrip() for line in data.splitlines()):
            return self.represent_scalar("tag:yaml.org,2002:str", data, style="|")
        return super().represent_str(data)


_Representer.add_representer(str, _Representer.represent_str)


def dumper() -> YAML:
    yaml = YAML(typ="safe", pure=True)
    yaml.Resolver = _Yaml11SafeResolver
    yaml.Representer = _Representer
    yaml.default_flow_style = False
    yaml.sort_base_mapping_type_on_output = False  # keep the order renderers chose
    yaml.width = 4096  # never fold long strings: diffs stay line-stable
    yaml.indent(mapping=2, sequence=4, offset=2)
    yaml.allow_unicode = True
    return yaml


def dump(data: Any) -> str:
    out = io.StringIO()
    dumper().dump(data, out)
    return out.getvalue()


def dump_all(documents: list[Any]) -> str:
    """A multi-document stream, every document opened by `---`."""
    out = io.StringIO()
    yaml = dumper()
    yaml.explicit_start = True
    yaml.dump_all(documents, out)
    return out.getvalue()
