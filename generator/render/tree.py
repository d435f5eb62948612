"""All renderers together: the whole rendered tree of a repository.

`render(inv)` returns the whole tree as {relative POSIX path: text}; it never
touches the disk (that is the writer's job) and gives identical output for the
same inventory.
"""

from __future__ import annotations

from collections.abc import Callable

from ..model import Inventory
from . import cilium, cloudinit, docs, gitops, guide, kubeadm, layout, loadbalancer, meta, routers, runbooks, svg

Renderer = Callable[[Inventory], dict[str, str]]
RENDERERS: tuple[Renderer, ...] = (
    cloudinit.render,
    kubeadm.render,
    loadbalancer.render,
    cilium.render,
    gitops.render,
    routers.render,
    docs.render,
    guide.render,
    runbooks.render,
    svg.render,
    meta.render,
)


def render(inv: Inventory) -> dict[str, str]:
    tree: dict[str, str] = {}
    for renderer in RENDERERS:
        for path, content in renderer(inv).items():
            if path in tree:  # two renderers claiming one file is a bug, not user error
                raise RuntimeError(f"{path} rendered twice ({renderer.__module__})")
            if not layout.is_renderable(path):  # the writer trusts a lock entry only if it is renderable
                raise RuntimeError(f"{path} is not in layout.RENDERED_FILES ({renderer.__module__})")
            tree[path] = content
    return dict(sorted(tree.items()))
