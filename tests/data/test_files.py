"""Naming your own images: folders walked recursively (DICOM without a suffix included), globs
and CSV/TSV tables; the dataset kind a path is read as; what a command says it read."""

import json

import numpy as np
import pytest

from mocoim_hub.data.adapters import image_folder, image_table, images
from mocoim_hub.data.files import find_images, image_files, read_image_table
from mocoim_hub.data.kinds import data_name, infer_kind, kind_for, open_dataset
from mocoim_hub.data.summary import summarize, write_data_record
from mocoim_hub.imaging import load_image

FINDINGS = dict(label_column="findings", patient_column="patient", label_separator="|")


def test_a_tree_is_walked_recursively_with_extensionless_dicom(example_archive, tmp_path):
    found, listing = find_images(example_archive)
    dicom = [p for p in found if p.parts[-5] == "scans"]
    assert len(found) == 201 and len(dicom) == listing.dicom == 60  # 200 + the truncated file
    assert all(p.suffix == "" for p in dicom)  # recognised by the DICM marker alone
    assert listing.ignored == 2  # notes.txt and labels.csv
    hidden = tmp_path / ".cache"
    hidden.mkdir()
    (hidden / "a.png").write_bytes((example_archive / "photos/fundus/fundus_000.png").read_bytes())
    (tmp_path / "b.png").write_bytes(hidden.joinpath("a.png").read_bytes())
    assert [p.name for p in find_images(tmp_path)[0]] == ["b.png"]  # hidden folders left out
    with pytest.raises(
        ValueError, match=r"No images at .*1 other file.*DICOM also without a suffix"
    ):
        find_images(example_archive / "flat" / "notes.txt")
    with pytest.raises(FileNotFoundError, match="No folder or file at"):
        find_images(example_archive / "nowhere")


def test_monochrome1_is_read_as_bright_means_dense(example_archive):
    """Odd patients' files store inverted values marked MONOCHROME1; read, they look alike."""
    first = load_image(example_archive / "scans/P000/study1/series1/IM0001")
    inverted = load_image(example_archive / "scans/P001/study1/series1/IM0001")
    assert abs(first.mean() - inverted.mean()) < 0.05
    assert first.dtype == np.float32 and 0 <= first.min() and first.max() <= 1


def test_globs_and_several_locations(example_archive):
    dicom, listing = find_images(f"{example_archive}/scans/**/IM*")
    assert len(dicom) == listing.dicom == 60
    paths, listing = image_files(
        [str(example_archive / "photos"), str(example_archive / "labels.csv")]
    )
    assert len(paths) == 80 + 200 and listing.dicom == 60


def test_the_kind_is_inferred_from_the_path_never_the_embedded_set(example_archive, tmp_path):
    kinds = {
        "": "images",  # mixed depths: unlabelled
        "flat": "images",
        "photos": "image_folder",  # every image directly in one of two class folders
        "scans/**/IM*": "images",
        "labels.csv": "csv",
        "photos/fundus/fundus_000.png": "images",
    }
    for path, kind in kinds.items():
        assert infer_kind(example_archive / path)[0] == kind, path
    assert "in no class folder" in infer_kind(example_archive / "flat")[1]
    assert "--dataset image_folder" in infer_kind(example_archive)[1]
    (tmp_path / "Data_Entry_2017_v2020.csv").write_text("Image Index\n")
    assert infer_kind(tmp_path)[0] == "nih"
    assert kind_for("default", example_archive) == "images"  # the recipe's kind reads no path
    assert kind_for("image_folder", example_archive) == "image_folder"  # it does: kept
    assert kind_for("default", None) == "default"
    with pytest.raises(FileNotFoundError, match="No folder or file at"):
        kind_for(None, tmp_path / "missing")


def test_unlabelled_images_are_all_train_and_unreadable_ones_counted(example_archive):
    splits = images(example_archive, on_bad_image="skip")
    assert list(splits) == ["train"] and len(splits["train"]) == 201
    train = splits["train"]
    assert not train.labelled and train.listing.dicom == 60
    samples = [train[i] for i in range(len(train))]
    assert sum(s is None for s in samples) == train.bad_images.count == 1
    assert "broken.png" in train.bad_images.examples[0]


def test_class_folders_take_dicom_and_keep_patients_on_one_side(example_archive, tmp_path):
    # class folders holding nested DICOM series: the class is the first folder level
    for source, patients in (("CT", range(0, 10)), ("MR", range(10, 20))):
        for patient in patients:
            target = tmp_path / source / f"P{patient:03d}"
            target.mkdir(parents=True)
            for file in (example_archive / "scans" / f"P{patient:03d}").rglob("IM*"):
                (target / file.name).write_bytes(file.read_bytes())
    splits = image_folder(tmp_path)
    assert splits["train"].label_names == ["CT", "MR"]
    assert sum(len(s) for s in splits.values()) == 60
    by_split = [set(s.patient_ids) for s in splits.values()]
    assert all(a.isdisjoint(b) for i, a in enumerate(by_split) for b in by_split[i + 1 :])
    assert len(set().union(*by_split)) == 20  # PatientID read from each file's header
    (tmp_path / "loose.png").write_bytes((example_archive / "flat/fundus_000.jpg").read_bytes())
    with pytest.raises(ValueError, match="1 image.*belong to no class folder.*--dataset images"):
        image_folder(tmp_path)


def test_a_csv_names_images_labels_and_patients(example_archive):
    splits = image_table(example_archive / "labels.csv", **FINDINGS)
    train = splits["train"]
    assert train.label_names == ["CT", "Fundus", "Histology", "MR", "Zoomed"]
    assert train.problem_type == "multi_label_classification"
    assert sum(len(s) for s in splits.values()) == 200
    by_split = [set(s.patient_ids) for s in splits.values()]
    assert all(a.isdisjoint(b) for i, a in enumerate(by_split) for b in by_split[i + 1 :])
    rows = {line.split(",")[0]: line.split(",")[1] for line in
            (example_archive / "labels.csv").read_text().splitlines()[1:]}  # fmt: skip
    for i in range(10):
        path = train.images[int(train.rows[i])]
        expected = set(rows[path.relative_to(example_archive).as_posix()].split("|"))
        assert {train.label_names[j] for j in np.flatnonzero(train.labels[i])} == expected
    again = image_table(example_archive / "labels.csv", **FINDINGS)
    assert all((again[k].rows == splits[k].rows).all() for k in splits)  # seeded


def test_labels_are_chosen_and_the_rest_counted(example_archive):
    table = read_image_table(example_archive / "labels.csv", "image", labels=["MR,CT"],
                             **{k: v for k, v in FINDINGS.items() if k != "patient_column"})  # fmt: skip
    assert table.label_names == ["MR", "CT"] and table.labels.shape == (200, 2)
    assert table.listing.ignored_labels == {"Zoomed": 52, "Fundus": 70, "Histology": 70}
    assert table.labels.sum() == 60
    single = read_image_table(example_archive / "labels.csv", "image", "findings")
    assert single.labels.ndim == 1 and "CT|Zoomed" in single.label_names
    with pytest.raises(ValueError, match=r"Label\(s\) \['Lung'\] never occur in column 'findings'"):
        read_image_table(example_archive / "labels.csv", "image", "findings", labels=["Lung"])
    with pytest.raises(ValueError, match=r"lacks column\(s\) \['path'\].*--image-column"):
        read_image_table(example_archive / "labels.csv", "path")


def test_a_label_without_positives_in_a_split_is_dropped_by_name(tmp_path, example_archive, caplog):
    lines = (example_archive / "labels.csv").read_text().splitlines()
    lines[1] = lines[1].replace(",CT,", ",CT|Rare,")  # one image has it: two splits have none
    (example_archive / "rare.csv").write_text("\n".join(lines) + "\n")
    try:
        splits = image_table(example_archive / "rare.csv", **FINDINGS)
    finally:
        (example_archive / "rare.csv").unlink()
    assert "Rare" not in splits["train"].label_names
    assert splits["train"].listing.dropped_labels == ["Rare"]
    assert "dropping label(s) Rare" in caplog.text and "--labels" in caplog.text


def test_tsv_and_names_found_below_the_table(tmp_path, example_archive):
    (tmp_path / "deep" / "er").mkdir(parents=True)
    for image in sorted((example_archive / "photos" / "fundus").iterdir())[:3]:
        (tmp_path / "deep" / "er" / image.name).write_bytes(image.read_bytes())
    names = sorted(p.name for p in (tmp_path / "deep" / "er").iterdir())
    (tmp_path / "list.tsv").write_text("file\tpatient\n" + "".join(f"{n}\tp{n}\n" for n in names))
    splits = open_dataset("csv", str(tmp_path / "list.tsv"), {"image_column": "file"})
    assert [p.name for p in splits["train"].images] == names  # found anywhere below


def test_the_summary_is_printed_and_written_beside_the_results(example_archive, tmp_path):
    splits = open_dataset("csv", str(example_archive / "labels.csv"), FINDINGS)
    summary = summarize(splits, "csv")
    text = str(summary)
    assert "read 200 images" in text and "DICOM: 60" in text and "patients: 60" in text
    assert "CT (30)" in text and "multi-label" in text
    written = write_data_record(splits, summary, tmp_path, split_seed=0)
    record = json.loads(written[0].read_text())
    assert record["images"] == {"train": 140, "validation": 18, "test": 42}
    assert record["split_seed"] == 0 and record["dicom"] == 60
    lines = written[1].read_text().splitlines()
    assert lines[0] == "path,split,patient_id" and len(lines) == 201
    assert data_name("csv", str(example_archive / "labels.csv")) == "my_images"
    assert data_name("images", f"{example_archive}/scans/**/IM*") == "scans"


def test_empty_labels_and_unreadable_tables_are_explained(tmp_path, example_archive):
    image = example_archive / "flat" / "fundus_000.jpg"
    table = tmp_path / "labels.csv"
    table.write_text(f"image,label\n{image},a\n{image},\n{image},b\n")
    with pytest.raises(ValueError, match=r"1 row\(s\) of .* have no 'label' \(e.g. data row 2\)"):
        read_image_table(table, label_column="label")
    chosen = read_image_table(table, label_column="label", labels=["a", "b"])
    assert chosen.label_names == ["a", "b"] and list(chosen.labels) == [0, 1]  # the empty row out
    multi = read_image_table(table, label_column="label", label_separator="|")
    assert multi.labels.tolist() == [[1, 0], [0, 0], [0, 1]]  # empty: no positive label
    table.write_bytes(b"image,label\n\xff\xfe\x00broken,a\n")
    with pytest.raises(ValueError, match="not a readable UTF-8 CSV/TSV file"):
        read_image_table(table, label_column="label")
