"""Every public name has a docstring and a place in the API reference: the modules the reference
pages render (`::: module` in docs/reference/) each declare `__all__`, and every name in it is
documented, functions, classes and constants alike (read as the site reads them, with griffe)."""

import re
from pathlib import Path

import pytest

griffe = pytest.importorskip("griffe")  # the docs extra, in dev

ROOT = Path(__file__).parents[1]
RENDERED = sorted(
    {m for page in (ROOT / "docs" / "reference").glob("*.md")
     for m in re.findall(r"^::: ([\w.]+)", page.read_text(), re.M)}
)  # fmt: skip
# the APIs a user of the library reaches for; each must have a reference page
REQUIRED = {"mocoim_hub", "mocoim_hub.pretraining", "mocoim_hub.finetune", "mocoim_hub.features",
            "mocoim_hub.analysis", "mocoim_hub.data", "mocoim_hub.hub", "mocoim_hub.archive",
            "mocoim_hub.export", "mocoim_hub.imaging"}  # fmt: skip


@pytest.fixture(scope="module")
def package():
    return griffe.load("mocoim_hub", search_paths=[str(ROOT)], resolve_aliases=True,
                       resolve_external=False)  # fmt: skip


def test_the_library_apis_have_reference_pages():
    assert REQUIRED <= set(RENDERED), REQUIRED - set(RENDERED)


@pytest.mark.parametrize("module_path", RENDERED)
def test_every_public_name_is_documented(package, module_path):
    module = package if module_path == "mocoim_hub" else package[module_path[len("mocoim_hub.") :]]
    assert module.exports, f"{module_path} declares no __all__: its public names are not explicit"
    undocumented = []
    for name in module.exports:
        member = module[name]
        target = member.final_target if member.is_alias else member
        if not (target.docstring and target.docstring.value.strip()):
            undocumented.append(name)
    assert not undocumented, f"{module_path}: no docstring for {undocumented}"
