"""Optional dependencies: a missing one is named with the extra that installs it, in one line."""

from importlib.metadata import metadata

import pytest

from mocoim_hub.extras import EXTRA_OF, MissingExtraError, require


def test_installed_modules_pass():
    require("Anything", "numpy", "torch")


def test_a_missing_module_names_its_extra_in_one_line(monkeypatch):
    monkeypatch.setitem(EXTRA_OF, "not_a_real_module", "dicom")
    with pytest.raises(MissingExtraError) as error:
        require("Reading DICOM files", "numpy", "not_a_real_module")
    message = str(error.value)
    assert message == (
        "Reading DICOM files needs not_a_real_module, which is not installed: "
        "pip install 'mocoim_hub[dicom]'"
    )
    assert isinstance(error.value, ImportError)


def test_every_optional_module_maps_to_a_declared_extra():
    assert set(EXTRA_OF.values()) <= set(metadata("mocoim_hub").get_all("Provides-Extra"))
