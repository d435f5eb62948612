"""Operations on a generated repository: create one, render it, build a node's
seed. They tie loader -> renderers -> writer together; the disk work itself is
the writer's."""

from __future__ import annotations

import json
import logging
import tempfile
from pathlib import Path

from . import loader, secrets, tools, writer, yamlio
from .errors import ClusterforgeError, ToolMissing
from .loader import Checked
from .model import Inventory
from .render import cilium, cloudinit, layout, tree

SCHEMA_LINE = f"# yaml-language-server: $schema={layout.SCHEMA_FILE}\n"
# The cookiecutter template `new` scaffolds with: packaged as generator/template in
# a wheel, at the top of the source tree in a checkout.
_PACKAGED_TEMPLATE = Path(__file__).resolve().parent / "template"
TEMPLATE_DIR = _PACKAGED_TEMPLATE if _PACKAGED_TEMPLATE.is_dir() else Path(__file__).resolve().parents[1] / "cookiecutter-cluster"
# Where a seed's temporary files go inside OUTDIR (removed when it is written).
SEED_SCRATCH = ".clusterforge-tmp"


def load(repo: Path) -> Checked:
    return loader.check_file(repo / layout.INVENTORY)


def render_repo(repo: Path, *, check: bool = False, force: bool = False) -> writer.Plan:
    inv = load(repo).inventory
    rendered = tree.render(inv)
    if check:
        return writer.plan(repo, rendered)
    with writer.session(repo) as disk:
        plan = disk.write(rendered, force=force)
        ensure_secrets(disk, inv)
    return plan


def new(dest: Path, inventory_text: str, *, force: bool = False) -> writer.Plan:
    """Create DEST holding cluster.yaml and its rendering, or nothing at all.

    Everything is built in a temporary sibling folder and moved into place at
    the end, so a bad inventory or a crash leaves no half-made folder behind.
    """
    loader.check_text(inventory_text, layout.INVENTORY)  # exit 2 before anything exists

    def build(staging: Path) -> tuple[Path, writer.Plan]:
        project = staging / "repository"
        project.mkdir()
        write_inventory(project, inventory_text)
        return project, render_repo(project, force=force)

    return writer.staged(dest, build)


class ScaffoldFailed(ClusterforgeError):
    """A template hook failed: it has already said why (as `clusterforge check` would),
    unless it could not even start."""

    def __init__(self, could_not_start: OSError | None) -> None:
        if could_not_start is None:
            super().__init__("no repository was created (see the messages above)")
        else:
            super().__init__(f"no repository was created: the template's hook could not run ({could_not_start})")


def scaffold(
    dest: Path, *, inventory_text: str | None = None, source: str = layout.INVENTORY, no_input: bool = False, git_init: bool = False
) -> None:
    """Create DEST with the cookiecutter template: from the answers (prompted unless
    `no_input`), or from `inventory_text` (read from `source`) verbatim without
    prompts. Like `new`, it leaves DEST complete or absent."""
    if not TEMPLATE_DIR.is_dir():
        raise ClusterforgeError(f"the repository template is missing: {TEMPLATE_DIR} (reinstall clusterforge)")
    extra: dict[str, object] = {"git_init": git_init}
    if inventory_text is not None:
        inv = loader.check_text(inventory_text, source).inventory  # exit 2 before anything exists
        extra |= {"_inventory": inventory_text, "cluster_name": inv.name}
        no_input = True

    # Imported here: cookiecutter pulls in requests, which no other command needs.
    from cookiecutter.exceptions import FailedHookException
    from cookiecutter.main import cookiecutter

    log = logging.getLogger("cookiecutter")
    if not log.handlers:  # its hooks say what failed; Python's last-resort log handler would add a traceback
        log.addHandler(logging.NullHandler())

    def build(staging: Path) -> tuple[Path, None]:
        # cookiecutter writes each hook, rendered with the whole context, into the temporary
        # folder and never deletes it: the staging folder is removed, and ignored by git.
        private_tmp = tempfile.gettempdir()
        system_tmp, tempfile.tempdir = tempfile.tempdir, str(staging)
        # Our own config, not the user's ~/.cookiecutterrc (whose default_context would
        # change the answers), and its replay copy of the context, which holds the whole
        # inventory, in a private folder removed at once instead of ~/.cookiecutter_replay.
        try:
            with tempfile.TemporaryDirectory(prefix="clusterforge-cookiecutter-", dir=private_tmp) as own:
                config = Path(own) / "config.json"  # JSON is YAML, which cookiecutter reads
                config.write_text(json.dumps({"replay_dir": f"{own}/replay", "cookiecutters_dir": f"{own}/templates"}))
                project = cookiecutter(
                    str(TEMPLATE_DIR), no_input=no_input, extra_context=extra, output_dir=str(staging), config_file=str(config)
                )
        except FailedHookException as exc:
            raise ScaffoldFailed(exc.__cause__ if isinstance(exc.__cause__, OSError) else None) from None
        finally:
            tempfile.tempdir = system_tmp
        return Path(project), None

    writer.staged(dest, build)


def write_inventory(repo: Path, text: str) -> None:
    """The user's inventory, opened by the line that gives editors its schema."""
    text = text if text.startswith(SCHEMA_LINE) else SCHEMA_LINE + text
    (repo / layout.INVENTORY).write_text(text, encoding="utf-8")


# --- secrets -----------------------------------------------------------------


def secrets_path(repo: Path) -> Path:
    return repo / layout.SECRETS_FILE


def ensure_secrets(disk: writer.Tree, inv: Inventory) -> secrets.ClusterSecrets:
    """Create the secrets file when missing; add passwords for new BGP peers."""
    path = secrets_path(disk.path)
    existing = read_secrets(disk.path) if path.exists() else None
    wanted = secrets.complete(existing, inv) if existing else secrets.generate(inv)
    if wanted != existing:
        write_secrets(disk, inv, wanted)
    return wanted


def read_secrets(repo: Path) -> secrets.ClusterSecrets:
    path = secrets_path(repo)
    if not path.exists():
        raise ClusterforgeError(f"{path} does not exist: run `clusterforge render` first")
    return secrets.read_file(path)


def write_secrets(disk: writer.Tree, inv: Inventory, values: secrets.ClusterSecrets) -> None:
    text = "# Secrets of this cluster: never commit this file in plaintext.\n" + yamlio.dump(values.as_data())
    recipients = inv.secrets.age_recipients
    if recipients:
        sops = tools.require("sops")
        text = tools.run(
            [str(sops), "--encrypt", "--age", ",".join(recipients), "--input-type", "yaml", "--output-type", "yaml", "/dev/stdin"],
            input=text,
        ).stdout
    disk.write_private(layout.SECRETS_FILE, text)


def bgp_secret_manifests(repo: Path) -> str:
    """The Kubernetes Secrets holding the BGP session passwords, for `kubectl apply -f -`:
    made from the secrets file on demand, never written into the repository."""
    inv = load(repo).inventory
    passwords = read_secrets(repo).bgp_passwords
    refs = sorted({p.auth_secret_ref for p in (inv.bgp.peers if inv.bgp else []) if p.auth_secret_ref})
    if missing := [ref for ref in refs if ref not in passwords]:
        raise ClusterforgeError(
            f"{layout.SECRETS_FILE} has no bgpPasswords entry for {', '.join(missing)}: "
            "run `clusterforge render`, which adds a password for every authSecretRef"
        )
    documents = [
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": ref, "namespace": cilium.NAMESPACE},  # Cilium's bgpControlPlane.secretsNamespace
            "type": "Opaque",
            "stringData": {"password": passwords[ref]},
        }
        for ref in refs
    ]
    return yamlio.dump_all(documents) if documents else ""


# --- seeds -------------------------------------------------------------------


def build_seed(inv: Inventory, node_name: str, values: secrets.ClusterSecrets) -> dict[str, str]:
    node = next((n for n in inv.nodes if n.name == node_name), None)
    if node is None:
        raise ClusterforgeError(f"no node named {node_name!r} (nodes: {', '.join(n.name for n in inv.nodes)})")
    if node.role != "loadbalancer" and node != inv.control_planes[0] and values.ca_cert_hash is None:
        raise ClusterforgeError(
            f"{node.name} joins the cluster, which needs the CA certificate hash, but {layout.SECRETS_FILE} has neither "
            f"the cluster's CAs (render makes them for a new cluster) nor a caCertHash: for a cluster whose CA "
            f"`kubeadm init` made on {inv.control_planes[0].name}, put that CA's hash there as caCertHash"
        )
    return cloudinit.seed(inv, node, values)


def write_seed(repo: Path, node_name: str, outdir: Path, *, iso: bool = False) -> list[Path]:
    inv = load(repo).inventory
    seed = build_seed(inv, node_name, read_secrets(repo))
    _refuse_tracked_location(repo, outdir, [*seed, *([ISO] if iso else [])])
    outdir.mkdir(parents=True, exist_ok=True)
    with writer.session(outdir, scratch=SEED_SCRATCH) as disk:
        for name, text in seed.items():
            disk.write_private(name, text)
        if iso:
            disk.build_private(ISO, lambda path, scratch: _nocloud_iso(outdir, path, scratch))
    return [outdir / name for name in [*seed, *([ISO] if iso else [])]]


def _refuse_tracked_location(repo: Path, outdir: Path, names: list[str]) -> None:
    """Seeds hold secrets: inside the repository they may only go to the ignored seeds/
    folder, and inside any other git work tree only where git ignores them."""
    repo_abs, out_abs = repo.resolve(), outdir.resolve()
    if out_abs.is_relative_to(repo_abs) and not out_abs.is_relative_to(repo_abs / layout.SEEDS_DIR):
        raise ClusterforgeError(f"{outdir} is inside the repository: seeds hold secrets; write them outside it or under {layout.SEEDS_DIR}/")
    existing = next(folder for folder in (out_abs, *out_abs.parents) if folder.is_dir())
    try:
        found = tools.run(["git", "-C", str(existing), "rev-parse", "--show-toplevel"], ok_codes=(0, 128), timeout=60)
    except ToolMissing:
        top = next((folder for folder in (existing, *existing.parents) if (folder / ".git").exists()), None)
        if top is not None:
            raise ClusterforgeError(
                f"{outdir} is in the git work tree {top}, and git is not installed to say whether it ignores the seed: "
                "seeds hold secrets; write them outside any git work tree"
            ) from None
        return
    if found.returncode != 0:
        return  # in no work tree
    top = Path(found.stdout.strip())
    # Tracked files count as not ignored: git would commit a secret written over one.
    paths = "".join(f"{out_abs / name}\0" for name in names)
    checked = tools.run(["git", "-C", str(top), "check-ignore", "-z", "--stdin", "--verbose", "--non-matching"],
                        input=paths, ok_codes=(0, 1), timeout=60).stdout.split("\0")
    kept = sorted(Path(path).name for source, path in zip(checked[0::4], checked[3::4], strict=False) if not source)
    if kept:
        raise ClusterforgeError(
            f"{outdir} is in the git work tree {top}, which does not ignore {', '.join(kept)} there: "
            "seeds hold secrets; write them outside any git work tree, or where git ignores them"
        )


ISO = "seed.iso"


def _nocloud_iso(outdir: Path, iso: Path, scratch: Path) -> None:
    """Build the NoCloud volume of the seed in `outdir` at `iso` (temporary files in `scratch`)."""
    if cloud_localds := tools.find_tool("cloud-localds"):
        argv = [str(cloud_localds), "--network-config", str(outdir / "network-config"), str(iso), str(outdir / "user-data"), str(outdir / "meta-data")]
    elif genisoimage := tools.find_tool("genisoimage"):
        # NoCloud finds its seed on a volume labelled "cidata".
        files = [str(outdir / name) for name in ("user-data", "meta-data", "network-config")]
        argv = [str(genisoimage), "-quiet", "-output", str(iso), "-volid", "cidata", "-joliet", "-rock", *files]
    else:
        raise ClusterforgeError("building a NoCloud ISO needs cloud-localds (cloud-image-utils) or genisoimage; run `clusterforge doctor`")
    tools.run(argv, env={"TMPDIR": str(scratch)})  # cloud-localds copies the seed there
