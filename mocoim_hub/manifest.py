"""What this package wrote into a folder, so that it never replaces or appends to a file it did
not write: `.mocoim-manifest.json` lists each file written here with its SHA-256.

A model folder (weights, processor, card, results, loss curve) is replaced whole by
`replace_folder`: written next to it, then swapped in, so no stale card, result or curve stays
beside new weights. A folder holding a file that is not in the manifest, or that changed since
it was written (a card the user edited), is refused, naming the files, unless `force`.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path

MANIFEST_FILE = ".mocoim-manifest.json"


class ForeignFilesError(FileExistsError):
    """A folder holds files this package did not write (or that changed since it wrote them)."""


def _digest(path: Path) -> str:
    sha = hashlib.sha256()
    with open(path, "rb") as file:
        for block in iter(lambda: file.read(2**20), b""):
            sha.update(block)
    return sha.hexdigest()


def _manifest(folder: Path) -> dict[str, str | None]:
    try:
        return json.loads((folder / MANIFEST_FILE).read_text())
    except (OSError, ValueError):
        return {}


def _save(folder: Path, manifest: dict[str, str | None]) -> None:
    (folder / MANIFEST_FILE).write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n")


def _files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.name != MANIFEST_FILE)


def record(folder: str | os.PathLike, paths: Iterable[str | os.PathLike] | None = None) -> None:
    """Note `paths` (default: every file in `folder`) as written by this package, as they are:
    names inside `folder`, or paths as the caller holds them (absolute or from the cwd)."""
    folder = Path(folder)
    manifest = _manifest(folder)
    for path in _files(folder) if paths is None else (Path(p) for p in paths):
        inside = folder / path
        path = inside if inside.is_file() else path
        if path.is_file():
            manifest[path.resolve().relative_to(folder.resolve()).as_posix()] = _digest(path)
    _save(folder, manifest)


def claim(folder: str | os.PathLike, names: Iterable[str]) -> None:
    """Note `names` as this package's files in `folder` whatever they will hold (a run's log that
    grows): a later run may write them again, as it may not write files it never claimed."""
    folder = Path(folder)
    manifest = _manifest(folder)
    for name in names:
        manifest.setdefault(name, None)
    _save(folder, manifest)


def unclaimed(folder: str | os.PathLike, names: Iterable[str]) -> list[str]:
    """Those of `names` that exist in `folder` and are not ours: neither claimed (whatever they
    hold) nor recorded as they are now (a results table the user edited is theirs)."""
    folder, manifest = Path(folder), _manifest(Path(folder))
    return [
        name
        for name in names
        if (folder / name).exists()
        and (name not in manifest or manifest[name] not in (None, _digest(folder / name)))
    ]


def foreign_files(folder: str | os.PathLike) -> list[str]:
    """Files of `folder` this package did not write, or that changed since it wrote them."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    manifest = _manifest(folder)
    return [
        path.relative_to(folder).as_posix()
        for path in _files(folder)
        if manifest.get(path.relative_to(folder).as_posix()) != _digest(path)
    ]


FORCE_HINT = ", or pass --force (force=True) to replace them anyway"


def check_ours(
    folder: str | os.PathLike,
    what: str,
    force: bool = False,
    foreign: list[str] | None = None,
    hint: str = FORCE_HINT,
) -> None:
    """Raise `ForeignFilesError` naming the files of `folder` that are not ours (`foreign`,
    default `foreign_files(folder)`), unless `force`."""
    foreign = foreign_files(folder) if foreign is None else foreign
    if foreign and not force:
        shown = ", ".join(foreign[:5]) + (
            f" and {len(foreign) - 5} more" if len(foreign) > 5 else ""
        )
        raise ForeignFilesError(
            f"{folder} holds files mocoim_hub did not write, or that were changed since: {shown}. "
            f"Writing {what} there would replace them: choose a new folder or move them away{hint}."
        )


def replace_folder(
    folder: str | os.PathLike, write: Callable[[Path], None], what: str, force: bool = False
) -> Path:
    """Make `folder` hold exactly what `write(path)` writes: written beside it, recorded, then
    swapped in whole. A folder with files that are not ours is refused (`check_ours`)."""
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise ForeignFilesError(f"{folder} is a file; expected a folder to write {what} to.")
    check_ours(folder, what, force)
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{folder.name}-", dir=folder.parent))
    staging.chmod(0o755)  # mkdtemp's 0700 would hide a shared model from its group
    try:
        write(staging)
        record(staging)
        if folder.exists():
            old = folder.with_name(f"{staging.name}-old")
            folder.rename(old)
            staging.rename(folder)
            shutil.rmtree(old)
        else:
            staging.rename(folder)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return folder
