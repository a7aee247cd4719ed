"""MkDocs hook: the committed study results (`results/`: tables, plots, JSON) are served with the
site under `results/`, so the guides link to and show the files the studies wrote, not copies."""

from pathlib import Path

from mkdocs.structure.files import File, InclusionLevel


def on_files(files, config):
    root = Path(config.config_file_path).parent
    for path in sorted((root / "results").rglob("*")):
        if path.is_file():
            uri = path.relative_to(root).as_posix()
            file = File.generated(config, uri, abs_src_path=str(path))
            file.inclusion = InclusionLevel.NOT_IN_NAV  # reached through the guides' links
            files.append(file)
    return files
