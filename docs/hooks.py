"""MkDocs hooks: the committed study results (`results/`: tables, plots, JSON) are served with the
site under `results/`, so the guides link to and show the files the studies wrote, not copies;
and every public name of the modules the API reference renders has a docstring, or the strict
build fails."""

import logging
import re
from pathlib import Path

from mkdocs.structure.files import File, InclusionLevel

log = logging.getLogger("mkdocs.hooks.api_reference")


def on_files(files, config):
    root = Path(config.config_file_path).parent
    for path in sorted((root / "results").rglob("*")):
        if path.is_file():
            uri = path.relative_to(root).as_posix()
            file = File.generated(config, uri, abs_src_path=str(path))
            file.inclusion = InclusionLevel.NOT_IN_NAV  # reached through the guides' links
            files.append(file)
    return files


def on_pre_build(config):
    root = Path(config.config_file_path).parent
    for module, problem in undocumented(root, rendered_modules(Path(config.docs_dir))).items():
        log.warning(f"API reference: {module} {problem}")


def rendered_modules(docs_dir: Path) -> list[str]:
    """The modules the reference pages render (`::: module`)."""
    pages = (docs_dir / "reference").glob("*.md")
    return sorted({m for p in pages for m in re.findall(r"^::: ([\w.]+)", p.read_text(), re.M)})


def undocumented(root: Path, modules: list[str]) -> dict[str, str]:
    """What is missing, by module: an `__all__` naming its public names, or their docstrings
    (functions, classes and constants alike, read as mkdocstrings reads them, with griffe)."""
    import griffe

    package = griffe.load("mocoim_hub", search_paths=[str(root)], try_relative_path=False,
                          resolve_aliases=True, resolve_external=False)  # fmt: skip
    problems = {}
    for path in modules:
        module = package if path == "mocoim_hub" else package[path.removeprefix("mocoim_hub.")]
        if not module.exports:
            problems[path] = "declares no __all__: its public names are not explicit"
            continue
        missing = [name for name in module.exports if not _has_docstring(module[name])]
        if missing:
            problems[path] = f"has public names without a docstring: {', '.join(missing)}"
    return problems


def _has_docstring(member) -> bool:
    target = member.final_target if member.is_alias else member  # a name imported from elsewhere
    return bool(target.docstring and target.docstring.value.strip())
