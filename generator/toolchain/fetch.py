"""Downloading a release artifact: streamed into the tools folder under a temporary
name, refused unless its SHA-256 is the recorded one, the binary taken out of a .tar.gz
by its exact member name. Nothing from the archive names a path on disk."""

from __future__ import annotations

import hashlib
import http.client
import os
import platform
import shutil
import tarfile
import tempfile
import urllib.parse
import urllib.request
from pathlib import Path, PurePosixPath
from typing import BinaryIO

from ..errors import InstallFailed
from .releases import Artifact

MIRROR_ENV = "CLUSTERFORGE_TOOLS_MIRROR"
MAX_BYTES = 512 << 20  # kubeadm is ~70 MB, helm's archive ~17 MB: more is not a release binary
_CHUNK = 1 << 20
_ARCHES = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}


def platform_key() -> tuple[str, str]:
    """(OS, arch) as release file names spell them: ("linux", "amd64")."""
    machine = platform.machine().lower()
    return platform.system().lower(), _ARCHES.get(machine, machine)


def source_url(url: str) -> str:
    """The artifact's URL, or its copy under $CLUSTERFORGE_TOOLS_MIRROR laid out as
    HOST/PATH (a mirror of the same files: the recorded SHA-256 still decides)."""
    mirror = os.environ.get(MIRROR_ENV)
    if not mirror:
        return url
    parts = urllib.parse.urlsplit(url)
    return f"{mirror.rstrip('/')}/{parts.netloc}{parts.path}"


def fetch_binary(artifact: Artifact, directory: Path) -> Path:
    """The artifact's binary, checked, as a new file in `directory` (the caller renames it)."""
    url = source_url(artifact.url)
    download = _download(url, directory)
    try:
        digest = _sha256(download)
        if digest != artifact.sha256:
            raise InstallFailed(f"{url}: SHA-256 {digest} is not the published {artifact.sha256}; nothing installed")
        if artifact.member is None:
            return download
        return _extract(download, artifact.member, directory, url)
    finally:
        if artifact.member is not None:
            download.unlink(missing_ok=True)


def _download(url: str, directory: Path) -> Path:
    fd, name = tempfile.mkstemp(dir=directory, prefix=".download-")
    path = Path(name)
    try:
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=60) as response:  # noqa: S310 (https or the mirror)
            received = _copy(response, out, url)
            # http.client returns a body cut by a closed connection as if it were whole.
            announced = response.headers.get("Content-Length", "")
            if announced.isdigit() and received != int(announced):
                raise InstallFailed(f"{url}: download cut short ({received} of {announced} bytes); nothing installed")
    except (OSError, http.client.HTTPException, ValueError) as e:  # URLError is an OSError; a cut chunked body raises IncompleteRead, an HTTPException
        path.unlink(missing_ok=True)
        raise InstallFailed(f"{url}: download failed: {e!s}; nothing installed") from None
    except BaseException:
        path.unlink(missing_ok=True)  # interrupted: no partial file stays behind
        raise
    return path


def _copy(source: BinaryIO, out: BinaryIO, what: str) -> int:
    total = 0
    while chunk := source.read(_CHUNK):
        total += len(chunk)
        if total > MAX_BYTES:
            raise InstallFailed(f"{what}: larger than {MAX_BYTES >> 20} MB, not a release binary")
        out.write(chunk)
    return total


def _sha256(path: Path) -> str:
    with path.open("rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def _extract(archive: Path, member: str, directory: Path, url: str) -> Path:
    """The regular file called `member` in a .tar.gz, copied out under a temporary name.
    An archive with an absolute or `..` path is refused whole; so is a member that is a
    link or anything but a regular file."""
    try:
        with tarfile.open(archive, "r:gz") as tar:
            found = None
            for entry in tar:
                name = PurePosixPath(entry.name)
                if name.is_absolute() or ".." in name.parts:
                    raise InstallFailed(f"{url}: unsafe path {entry.name!r} in the archive; nothing installed")
                if name == PurePosixPath(member):
                    if not entry.isreg():
                        raise InstallFailed(f"{url}: {member} in the archive is not a regular file (a link?); nothing installed")
                    found = entry
            if found is None:
                raise InstallFailed(f"{url}: the archive has no {member}; nothing installed")
            if found.size > MAX_BYTES:
                raise InstallFailed(f"{url}: {member} is larger than {MAX_BYTES >> 20} MB, not a release binary")
            source = tar.extractfile(found)
            assert source is not None  # a regular file always has contents
            fd, name = tempfile.mkstemp(dir=directory, prefix=".extract-")
            try:
                with os.fdopen(fd, "wb") as out:
                    shutil.copyfileobj(source, out, _CHUNK)
            except BaseException:
                Path(name).unlink(missing_ok=True)
                raise
            return Path(name)
    except (tarfile.TarError, EOFError, OSError) as e:
        raise InstallFailed(f"{url}: not a readable .tar.gz ({e}); nothing installed") from None
