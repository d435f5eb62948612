"""A scratch network namespace holding interfaces of given names.

keepalived's config test rejects a configuration whose interface does not
exist on the host, so the check runs it inside a namespace where the
inventory's interface exists: one end of a veth pair (the `dummy` link type is
not available everywhere, e.g. in unprivileged-container sandboxes). Needs
root (CAP_SYS_ADMIN + CAP_NET_ADMIN).
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from .. import tools
from ..errors import ClusterforgeError, ToolFailed

TIMEOUT = 10  # seconds for one `ip` command: they take milliseconds


class NetnsUnavailable(ClusterforgeError):
    """No scratch network namespace could be made here (not root, no netns support)."""

    exit_code = 1


@dataclass(frozen=True)
class Netns:
    name: str
    ip: Path

    def command(self, argv: Sequence[str | Path]) -> list[str]:
        """argv run inside this namespace."""
        return [str(self.ip), "netns", "exec", self.name, *(str(a) for a in argv)]


@contextmanager
def scratch(interfaces: Sequence[str], *, up: bool = False) -> Iterator[Netns]:
    """A fresh namespace `cf-<random>` with each named interface present (down, or with
    `up` up, loopback and the veth peers too); always deleted on exit.

    Raises NetnsUnavailable if the namespace or an interface cannot be created.
    """
    ip = tools.require("ip")
    token = secrets.token_hex(4)
    ns = Netns(f"cf-{token}", ip)
    try:
        tools.run([ip, "netns", "add", ns.name], timeout=TIMEOUT)
    except ToolFailed as e:
        raise NetnsUnavailable(
            f"cannot create a network namespace: {(e.stderr or e.stdout).strip()}; keepalived checks interface "
            "names against the host's, so its check needs one: run `clusterforge validate` as root"
        ) from None
    try:
        for i, name in enumerate(interfaces):
            # Both ends get scratch names (15 characters at most), then one takes the wanted name.
            end, peer = f"cfa{i}-{token}", f"cfb{i}-{token}"
            try:
                tools.run([ip, "-n", ns.name, "link", "add", end, "type", "veth", "peer", "name", peer], timeout=TIMEOUT)
                tools.run([ip, "-n", ns.name, "link", "set", end, "name", name], timeout=TIMEOUT)
                for link in (name, peer) if up else ():
                    tools.run([ip, "-n", ns.name, "link", "set", link, "up"], timeout=TIMEOUT)
            except ToolFailed as e:
                raise NetnsUnavailable(f"cannot create interface {name} in {ns.name}: {(e.stderr or e.stdout).strip()}") from None
        if up:
            tools.run([ip, "-n", ns.name, "link", "set", "lo", "up"], timeout=TIMEOUT)
        yield ns
    finally:
        # Deleting the namespace deletes the veth pairs inside it too.
        tools.run([ip, "netns", "delete", ns.name], timeout=TIMEOUT)
