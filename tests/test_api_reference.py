"""Every public name has a docstring and a place in the API reference: the modules the reference
pages render each declare `__all__`, and every name in it is documented. The check is the one the
strict documentation build runs (docs/hooks.py)."""

import importlib.util
from pathlib import Path

import pytest

pytest.importorskip("griffe")  # the docs extra, in dev
ROOT = Path(__file__).parents[1]
_spec = importlib.util.spec_from_file_location("docs_hooks", ROOT / "docs" / "hooks.py")
hooks = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(hooks)
# the APIs a user of the library reaches for; each must have a reference page
REQUIRED = {"mocoim_hub", "mocoim_hub.pretraining", "mocoim_hub.finetune", "mocoim_hub.features",
            "mocoim_hub.analysis", "mocoim_hub.data", "mocoim_hub.hub", "mocoim_hub.archive",
            "mocoim_hub.export", "mocoim_hub.imaging"}  # fmt: skip


def test_the_library_apis_have_reference_pages():
    rendered = set(hooks.rendered_modules(ROOT / "docs"))
    assert REQUIRED <= rendered, REQUIRED - rendered


def test_every_public_name_is_documented():
    assert hooks.undocumented(ROOT, hooks.rendered_modules(ROOT / "docs")) == {}


def test_a_missing_docstring_or_all_is_found(tmp_path):
    package = tmp_path / "mocoim_hub"
    package.mkdir()
    (package / "__init__.py").write_text('__all__ = ["ok"]\n\n\ndef ok():\n    """Documented."""\n')
    (package / "loose.py").write_text(
        '__all__ = ["bare", "LIMIT"]\nLIMIT = 3\n\n\ndef bare():\n    pass\n'
    )
    (package / "open.py").write_text('def fine():\n    """Documented, but public by accident."""\n')
    found = hooks.undocumented(tmp_path, ["mocoim_hub", "mocoim_hub.loose", "mocoim_hub.open"])
    assert found == {"mocoim_hub.loose": "has public names without a docstring: bare, LIMIT",
                     "mocoim_hub.open": "declares no __all__: its public names are not explicit"}  # fmt: skip
