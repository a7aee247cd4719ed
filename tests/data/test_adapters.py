import gzip
import importlib.util
import logging
from pathlib import Path

import numpy as np
import PIL.Image
import pytest
import torch

from mocoim_hub.data.adapters import (
    NIH_FINDINGS,
    default_dataset,
    diabetic_retinopathy,
    hf_dataset,
    idc_histopathology,
    image_folder,
    nih_chestxray14,
)
from mocoim_hub.data.loading import make_loader

RNG = np.random.default_rng(0)


def write_png(path: Path, size=(12, 12), mode="L", sixteen_bit=False) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if sixteen_bit:
        PIL.Image.fromarray(RNG.integers(0, 65535, size, dtype=np.uint16)).save(path)
    else:
        PIL.Image.fromarray(RNG.integers(0, 255, size, dtype=np.uint8)).convert(mode).save(path)
    return path


def split_patients(splits) -> list[set]:
    return [set(d.patient_ids) for d in splits.values()]


def assert_patient_disjoint(splits):
    seen = split_patients(splits)
    for i, a in enumerate(seen):
        for b in seen[i + 1 :]:
            assert not a & b


# --- image folder --------------------------------------------------------------------------------


@pytest.fixture
def folder(tmp_path):
    for label in ("benign", "malignant"):
        for i in range(10):
            write_png(tmp_path / label / f"{i}.png")
    return tmp_path


def test_image_folder_classes_and_split(folder):
    splits = image_folder(folder)
    assert set(splits) == {"train", "validation", "test"}
    assert sum(len(s) for s in splits.values()) == 20
    sample = splits["train"][0]
    assert splits["train"].label_names == ["benign", "malignant"]
    assert sample["image"].size == (12, 12) and sample["labels"].dtype == torch.long


def test_image_folder_bad_files_error_or_skip_with_a_report(folder, caplog):
    (folder / "benign" / "notes.txt").write_text("not an image")  # ignored: not an image suffix
    (folder / "benign" / "empty.png").write_bytes(b"")
    (folder / "malignant" / "truncated.png").write_bytes(
        (folder / "malignant" / "0.png").read_bytes()[:40]
    )
    with pytest.raises(ValueError, match=r"empty\.png: empty file.*on_bad_image='skip'"):
        image_folder(folder)
    with caplog.at_level(logging.WARNING):
        splits = image_folder(folder, on_bad_image="skip")
    assert "empty.png" in caplog.text
    everything = [s for d in splits.values() for s in (d[i] for i in range(len(d)))]
    assert sum(s is None for s in everything) == 1  # the truncated file, found when read
    bad = [d.bad_images for d in splits.values() if d.bad_images.count]
    assert "truncated.png" in str(bad[0])


def test_truncated_file_with_error_policy_names_the_file(folder):
    (folder / "benign" / "3.png").write_bytes((folder / "benign" / "4.png").read_bytes()[:40])
    splits = image_folder(folder)
    datasets = list(splits.values())
    with pytest.raises(ValueError, match=r"Bad image .*3\.png"):
        for d in datasets:
            for i in range(len(d)):
                d[i]


# --- datasets library ----------------------------------------------------------------------------


def test_hf_dataset_from_disk_with_custom_columns(tmp_path):
    import datasets

    images = [PIL.Image.fromarray(RNG.integers(0, 255, (8, 8), dtype=np.uint8)) for _ in range(6)]
    table = datasets.Dataset.from_dict(
        {"scan": images, "finding": [0, 1, 2, 0, 1, 2], "subject": list("aabbcc")},
        features=datasets.Features(
            scan=datasets.Image(),
            finding=datasets.ClassLabel(names=["normal", "benign", "malignant"]),
            subject=datasets.Value("string"),
        ),
    )
    datasets.DatasetDict(train=table, val=table.select([0, 1])).save_to_disk(tmp_path / "ds")
    splits = hf_dataset(
        tmp_path / "ds", image_column="scan", label_column="finding", patient_column="subject"
    )
    assert set(splits) == {"train", "validation"}
    assert splits["train"].label_names == ["normal", "benign", "malignant"]
    assert splits["train"][2]["patient_id"] == "b" and splits["train"][2]["labels"].item() == 2
    with pytest.raises(ValueError, match=r"no column\(s\) \['image', 'label'\]; its columns are"):
        hf_dataset(tmp_path / "ds")


def test_default_dataset_through_the_adapter_interface():
    splits = default_dataset()
    assert len(splits["train"]) == 10000 and splits["test"].label_names[0] == "T-shirt/top"
    assert splits["validation"][0]["image"].mode == "L"


# --- NIH ChestX-ray14 ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def nih_rows():
    """The first 300 rows of the real NIH label file, which torchxrayvision's wheel ships."""
    spec = importlib.util.find_spec("torchxrayvision")
    csv_path = Path(spec.origin).parent / "data" / "Data_Entry_2017_v2020.csv.gz"
    with gzip.open(csv_path, "rt") as handle:
        return [next(handle) for _ in range(301)]


def make_nih(root: Path, rows: list[str], official: bool) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "Data_Entry_2017_v2020.csv").write_text("".join(rows))
    names = [row.split(",")[0] for row in rows[1:]]
    for i, name in enumerate(names):
        write_png(root / f"images_{1 + i // 100:03d}" / "images" / name, sixteen_bit=i % 2 == 0)
    if official:  # like the real lists: patient-disjoint, the later patients in test
        patients = [int(row.split(",")[3]) for row in rows[1:]]
        cut = patients[len(patients) * 2 // 3]
        test = [n for n, p in zip(names, patients, strict=True) if p >= cut]
        (root / "test_list.txt").write_text("\n".join(test))
        (root / "train_val_list.txt").write_text("\n".join(sorted(set(names) - set(test))))
    return root


@pytest.mark.parametrize("official", [False, True])
def test_nih_labels_patients_and_splits(tmp_path, nih_rows, official):
    splits = nih_chestxray14(make_nih(tmp_path, nih_rows, official))
    assert sum(len(s) for s in splits.values()) == 300
    assert_patient_disjoint(splits)
    train = splits["train"]
    kept, dropped = train.label_names, train.listing.dropped_labels
    # 300 rows: a few rare findings have no positive in some split and are dropped, by name
    assert kept == [f for f in NIH_FINDINGS if f not in dropped] and dropped and len(kept) > 5
    assert all(s.label_names == kept and s.labels.shape[1] == len(kept) for s in splits.values())
    assert all((s.labels.sum(axis=0) > 0).all() for s in splits.values())
    assert train.problem_type == "multi_label_classification"
    by_name = {row.split(",")[0]: row.split(",")[1] for row in nih_rows[1:]}
    for i in range(5):
        name = Path(train.images[int(train.rows[i])]).name
        findings = {kept[j] for j in np.flatnonzero(train.labels[i])}
        expected = (set(by_name[name].split("|")) - {"No Finding"}) & set(kept)
        assert findings == expected
    if official:
        assert set(splits["test"].images[i].name for i in splits["test"].rows) == set(
            (tmp_path / "test_list.txt").read_text().split()
        )


def test_nih_missing_image_is_reported(tmp_path, nih_rows):
    root = make_nih(tmp_path, nih_rows[:21], official=False)
    next(root.rglob("*.png")).unlink()
    with pytest.raises(ValueError, match="1 bad image.*missing"):
        nih_chestxray14(root)
    assert sum(len(s) for s in nih_chestxray14(root, on_bad_image="skip").values()) == 19


def test_nih_sixteen_bit_images_keep_their_range(tmp_path, nih_rows):
    with pytest.raises(ValueError, match="too few for a patient-disjoint 70/10/20"):
        nih_chestxray14(make_nih(tmp_path / "tiny", nih_rows[:3], official=False))
    splits = nih_chestxray14(make_nih(tmp_path, nih_rows[:41], official=False))
    images = [d[i]["image"] for d in splits.values() for i in range(len(d))]
    assert any(image.mode.startswith("I") for image in images)


# --- histopathology and retinopathy --------------------------------------------------------------


def test_idc_patient_folders(tmp_path):
    for patient in range(10):
        for label in (0, 1):
            for k in range(3):
                write_png(
                    tmp_path
                    / f"{8900 + patient}"
                    / str(label)
                    / f"{8900 + patient}_x{k}_class{label}.png",
                    mode="RGB",
                )
    splits = idc_histopathology(tmp_path)
    assert sum(len(s) for s in splits.values()) == 60
    assert_patient_disjoint(splits)
    assert splits["train"].label_names == ["no IDC", "IDC"]
    sample = splits["train"][0]
    assert sample["image"].mode == "RGB" and sample["labels"].item() in (0, 1)


@pytest.mark.parametrize(("target", "names"), [("referable", 2), ("grade", 5)])
def test_diabetic_retinopathy_targets(tmp_path, target, names):
    lines = ["image,level"]
    for patient in range(12):
        for eye, level in (("left", patient % 5), ("right", (patient + 2) % 5)):
            write_png(tmp_path / "train" / f"{patient}_{eye}.jpeg", mode="RGB")
            lines.append(f"{patient}_{eye},{level}")
    (tmp_path / "trainLabels.csv").write_text("\n".join(lines))
    splits = diabetic_retinopathy(tmp_path / "trainLabels.csv", tmp_path / "train", target=target)
    assert_patient_disjoint(splits)
    assert len(splits["train"].label_names) == names
    labels = np.concatenate([s.labels for s in splits.values()])
    assert labels.max() == names - 1
    if target == "referable":
        assert labels.sum() == sum(int(line.split(",")[1]) >= 2 for line in lines[1:])


def test_missing_columns_and_bad_levels(tmp_path):
    (tmp_path / "x.csv").write_text("name,grade\na,1\n")
    (tmp_path / "img").mkdir()
    with pytest.raises(ValueError, match=r"lacks column\(s\) \['image', 'level'\]"):
        diabetic_retinopathy(tmp_path / "x.csv", tmp_path / "img")


# --- loading ---------------------------------------------------------------------------------------


def test_loader_drops_bad_images_and_counts_them(folder):
    (folder / "benign" / "5.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")
    dataset = image_folder(folder, on_bad_image="skip")["train"]
    dataset.transform = lambda image: torch.from_numpy(np.asarray(image, dtype=np.float32))
    batches = list(make_loader(dataset, batch_size=4, num_workers=0))
    seen = sum(len(b["labels"]) for b in batches if "labels" in b)
    skipped = sum(b["skipped"] for b in batches)
    assert seen + skipped == len(dataset)
    assert {"image", "labels", "patient_id", "skipped"} <= set(batches[0])


def test_hf_dataset_multi_label_lists_and_a_folder_of_data_files(tmp_path):
    import datasets

    findings = datasets.Sequence(datasets.ClassLabel(names=["Effusion", "Mass", "Nodule"]))
    table = datasets.Dataset.from_dict(
        {"image": [PIL.Image.new("L", (8, 8))] * 3, "label": [[0, 2], [], [1]]},
        features=datasets.Features(image=datasets.Image(), label=findings),
    )
    (tmp_path / "repo").mkdir()
    table.to_parquet(tmp_path / "repo" / "train.parquet")  # a local folder load_dataset reads
    train = hf_dataset(tmp_path / "repo")["train"]
    assert train.label_names == ["Effusion", "Mass", "Nodule"]
    assert train.labels.tolist() == [[1, 0, 1], [0, 0, 0], [0, 1, 0]]
    assert train.problem_type == "multi_label_classification"
    assert train[0]["labels"].dtype == torch.float32


def test_decompression_bomb_and_empty_folder(tmp_path, monkeypatch):
    import mocoim_hub.decode_budget
    import mocoim_hub.imaging

    write_png(tmp_path / "a" / "big.png", size=(64, 64))
    monkeypatch.setattr(mocoim_hub.decode_budget, "DECODE_BUDGET", 1000)
    with pytest.raises(ValueError, match="big.png .* over the decode budget"):
        mocoim_hub.imaging.load_image(tmp_path / "a" / "big.png")
    (tmp_path / "empty" / "class").mkdir(parents=True)
    with pytest.raises(ValueError, match=r"No images at .*DICOM also without a suffix"):
        image_folder(tmp_path / "empty")


def test_two_view_pretraining_loader_with_workers_on_tiny_images():
    """Images smaller than the crop are upsampled; views cross process boundaries intact."""
    from mocoim_hub.data.augment import two_view_transform

    train = default_dataset()["train"].subset(range(16))
    train.transform = two_view_transform("xray", size=48, num_channels=1)  # 28 px images
    batch = next(iter(make_loader(train, batch_size=8, shuffle=True, num_workers=2, seed=1)))
    first, second = batch["image"]
    assert first.shape == second.shape == (8, 1, 48, 48)
    assert not torch.equal(first, second)
    again = next(iter(make_loader(train, batch_size=8, shuffle=True, num_workers=0, seed=1)))
    assert torch.equal(batch["labels"], again["labels"])  # seeded order


def test_corrupt_bytes_inside_a_datasets_table_follow_the_policy(tmp_path):
    import datasets

    good = (write_png(tmp_path / "g.png")).read_bytes()
    table = datasets.Dataset.from_dict(
        {
            "image": [{"bytes": good, "path": None}, {"bytes": good[:30], "path": None}],
            "label": [0, 1],
        },
        features=datasets.Features(
            image=datasets.Image(), label=datasets.ClassLabel(names=["a", "b"])
        ),
    )
    table.save_to_disk(tmp_path / "ds")
    strict = hf_dataset(tmp_path / "ds")["train"]
    assert strict[0]["image"].size == (12, 12)
    with pytest.raises(ValueError, match="Bad image image 1"):
        strict[1]
    lenient = hf_dataset(tmp_path / "ds", on_bad_image="skip")["train"]
    assert lenient[1] is None and lenient.bad_images.count == 1


def test_dataset_kinds_are_one_registry_with_clear_errors():
    from mocoim_hub.data.kinds import DATASETS, card_info, open_dataset
    from mocoim_hub.pretraining.recipe import PretrainRecipe

    with pytest.raises(
        ValueError, match="expected one of default, images, image_folder, csv, hf_dataset, nih"
    ):
        open_dataset("mnist")
    with pytest.raises(ValueError, match="'nih' needs a path: the NIH ChestX-ray14 folder"):
        open_dataset("nih")
    with pytest.raises(ValueError, match="Unknown dataset 'mnist'"):
        PretrainRecipe(dataset="mnist")
    reading = [kind for kind, entry in DATASETS.items() if entry.data_path]
    assert all(PretrainRecipe(dataset=kind, data_path="x").dataset == kind for kind in reading)
    with pytest.raises(ValueError, match="'default' reads no path, but data_path is 'x'.*inferred"):
        PretrainRecipe(dataset="default", data_path="x")
    with pytest.raises(
        ValueError, match="--label-column apply to CSV/TSV files.*not to dataset 'nih'"
    ):
        PretrainRecipe(dataset="nih", data_path="x", label_column="findings")
    assert card_info("nih:/data/NIH").name == "NIH ChestX-ray14"
    assert card_info("image_folder").name == "user-provided images"
