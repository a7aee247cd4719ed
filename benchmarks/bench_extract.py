"""Throughput of `mocoim-extract`'s pipeline against its two stages, measured in one run, and its
peak memory from 1k to 10k images.

- decode: the loader alone (workers read the files and run the processor), images/s;
- forward: the encoder alone on pre-decoded batches already in memory, images/s;
- end to end: `embed_archive` into a fresh folder (decode in workers overlapped with the
  forward, shards written), images/s, and its ratio to the slower stage (1.0 = perfect overlap).

The archive is half 16-bit PNG and half DICOM (uint16, MONOCHROME2), 512 x 512 crops of the real
fundus photograph scikit-image ships, read at the model's 224 px. Medians of `--repeats`.

    python benchmarks/bench_extract.py                       # ResNet-18 and -50 on the CPU
    python benchmarks/bench_extract.py --device cuda --precision bf16 --images 2048
    python benchmarks/bench_extract.py --memory 1000 10000   # peak RSS in child processes
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from mocoim_hub import MocoImConfig, MocoImImageProcessor, MocoImModel
from mocoim_hub.archive import decoding_loader, embed_archive, shards_of
from mocoim_hub.precision import PRECISIONS, autocast


def write_archive(folder: Path, count: int) -> list[Path]:
    """`count` files, alternately 16-bit PNG and DICOM, of 512 x 512 crops of the retina."""
    import pydicom
    from pydicom.dataset import FileMetaDataset
    from skimage.data import retina

    green = retina()[:, :, 1].astype(np.uint16) * 257
    rng = np.random.default_rng(0)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for index in range(count):
        top, left = rng.integers(0, green.shape[0] - 512, 2)
        crop = np.ascontiguousarray(green[top : top + 512, left : left + 512])
        if index % 2 == 0:
            path = folder / f"{index:05d}.png"
            Image.fromarray(crop).save(path, compress_level=1)
        else:
            path = folder / f"{index:05d}.dcm"
            meta = FileMetaDataset()
            meta.TransferSyntaxUID = pydicom.uid.ExplicitVRLittleEndian
            meta.MediaStorageSOPClassUID = pydicom.uid.SecondaryCaptureImageStorage
            meta.MediaStorageSOPInstanceUID = pydicom.uid.generate_uid()
            dataset = pydicom.Dataset()
            dataset.file_meta = meta
            dataset.SOPClassUID, dataset.SOPInstanceUID = (
                meta.MediaStorageSOPClassUID,
                meta.MediaStorageSOPInstanceUID,
            )
            dataset.Rows, dataset.Columns = crop.shape
            dataset.SamplesPerPixel, dataset.PhotometricInterpretation = 1, "MONOCHROME2"
            dataset.BitsAllocated, dataset.BitsStored, dataset.HighBit = 16, 16, 15
            dataset.PixelRepresentation = 0
            dataset.PixelData = crop.tobytes()
            dataset.save_as(path, enforce_file_format=True)
        paths.append(path)
    return paths


def encoder(backbone: str, image_size: int) -> tuple[MocoImModel, MocoImImageProcessor]:
    config = MocoImConfig(backbone=backbone, num_channels=1, image_size=image_size)
    return MocoImModel(config).eval(), MocoImImageProcessor.from_model_config(config)


def decode_rate(paths, processor, batch_size, workers) -> tuple[float, list[torch.Tensor]]:
    loader = decoding_loader(
        paths, processor, shards_of(len(paths), len(paths)), batch_size, workers
    )
    start = time.perf_counter()
    batches = [batch["pixels"] for batch in loader]
    return len(paths) / (time.perf_counter() - start), batches


@torch.inference_mode()
def forward_rate(model, batches, device, precision) -> float:
    batches = [batch.to(device) for batch in batches]
    model.to(device)
    _synchronize(device)
    start = time.perf_counter()
    with autocast(precision, device):
        for batch in batches:
            model.layer_features(batch, layers="layer4")["layer4"].float().cpu()
    _synchronize(device)
    return sum(len(b) for b in batches) / (time.perf_counter() - start)


def end_to_end_rate(model, processor, paths, batch_size, workers, device, precision) -> float:
    with tempfile.TemporaryDirectory() as output:
        start = time.perf_counter()
        embed_archive(model, processor, paths, Path(output) / "out", batch_size=batch_size,
                      num_workers=workers, device=device, precision=precision, progress=False)  # fmt: skip
        return len(paths) / (time.perf_counter() - start)


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def throughput(args, paths) -> None:
    device = torch.device(args.device)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {args.device} "
          f"{args.precision}, {len(paths)} images (16-bit PNG + DICOM, 512 px -> 224 px), "
          f"batch {args.batch_size}, {args.num_workers} workers, medians of {args.repeats}\n")  # fmt: skip
    print(
        "| backbone | decode img/s | forward img/s | end to end img/s | end to end / slower stage |"
    )
    print("|---|---|---|---|---|")
    for backbone in args.backbones:
        model, processor = encoder(backbone, 224)
        rates = {"decode": [], "forward": [], "end to end": []}
        end_to_end_rate(
            model,
            processor,
            paths[: args.batch_size],
            args.batch_size,
            args.num_workers,
            device,
            args.precision,
        )  # fmt: skip  (warm-up)
        for _ in range(args.repeats):
            decode, batches = decode_rate(paths, processor, args.batch_size, args.num_workers)
            rates["decode"].append(decode)
            rates["forward"].append(forward_rate(model, batches, device, args.precision))
            rates["end to end"].append(end_to_end_rate(model, processor, paths, args.batch_size,
                                                       args.num_workers, device, args.precision))  # fmt: skip
        medians = {name: statistics.median(values) for name, values in rates.items()}
        ratio = medians["end to end"] / min(medians["decode"], medians["forward"])
        print(f"| {backbone} | {medians['decode']:.0f} | {medians['forward']:.0f} | "
              f"{medians['end to end']:.0f} | {ratio:.2f} |")  # fmt: skip


def peak_memory(args, paths) -> None:
    """Each size in a child process: the same files listed over and over to `count` images."""
    print(
        f"\npeak memory of embed_archive (resnet18 at 64 px, {args.num_workers} workers, "
        "shards of 4096), each size in its own process:\n"
    )
    print("| images | main process peak RSS MiB | largest worker peak RSS MiB | seconds |")
    print("|---|---|---|---|")
    for count in args.memory:
        listed = [str(paths[i % len(paths)]) for i in range(count)]
        with tempfile.TemporaryDirectory() as folder:
            (Path(folder) / "paths.json").write_text(json.dumps(listed))
            result = subprocess.run([sys.executable, __file__, "--child", folder,
                                     "--num-workers", str(args.num_workers)],
                                    capture_output=True, text=True, check=True)  # fmt: skip
        main, workers, seconds = json.loads(result.stdout.strip().splitlines()[-1])
        print(f"| {count} | {main:.0f} | {workers:.0f} | {seconds:.0f} |")


def child(folder: Path, workers: int) -> None:
    paths = json.loads((folder / "paths.json").read_text())
    model, processor = encoder("resnet18", 64)
    start = time.perf_counter()
    embed_archive(model, processor, paths, folder / "out", num_workers=workers, progress=False)
    seconds = time.perf_counter() - start
    kib = [
        resource.getrusage(who).ru_maxrss
        for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)
    ]
    print(json.dumps([kib[0] / 1024, kib[1] / 1024, seconds]))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--images", type=int, default=256)
    parser.add_argument("--backbones", nargs="+", default=["resnet18", "resnet50"])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--precision", default="fp32", choices=list(PRECISIONS))
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--num-workers", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--memory", type=int, nargs="*", default=[], help="archive sizes")
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child(args.child, args.num_workers)
    with tempfile.TemporaryDirectory() as folder:
        paths = write_archive(Path(folder), args.images)
        if args.repeats:
            throughput(args, paths)
        if args.memory:
            peak_memory(args, paths)


if __name__ == "__main__":
    main()
