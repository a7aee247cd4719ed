"""Does data or compute limit pretraining? Two-view augmentation throughput per worker process,
for each preset at its recipe's input size, next to the MoCo-IM pretraining step (plain MoCo v2
settings, forward, backward and SGD step) on the same machine in the same run.

If `workers x per-worker samples/s` is below the step's img/s, add DataLoader workers or move
augmentation to the GPU.

    python benchmarks/bench_data.py [--backbone resnet50] [--device cuda --bf16]
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import PIL.Image
import torch
from skimage.data import immunohistochemistry, retina

from mocoim_hub.data.augment import two_view_transform
from mocoim_hub.data.default import load_default_dataset
from mocoim_hub.pretraining.build import build_moco, encoder_config, trainable_parameters
from mocoim_hub.pretraining.recipe import PretrainRecipe

# (preset, input size of its recipe, channels, source image it sees)
CASES = [
    ("mocov2", 224, 3, "fundus"),
    ("xray", 224, 1, "xray"),
    ("histopathology", 96, 3, "patch"),
    ("fundus", 299, 3, "fundus"),
    ("paper-nih", 512, 1, "xray"),
    ("paper-bch", 255, 3, "patch"),
    ("paper-dr", 299, 3, "fundus"),
    ("xray", 32, 1, "fashion"),  # the embedded default dataset
]


def source_images() -> dict[str, PIL.Image.Image]:
    fundus = PIL.Image.fromarray(retina())
    return {
        "fundus": fundus,  # 1411 px RGB
        "xray": fundus.convert("L").resize((1024, 1024)),  # NIH-sized 8-bit gray
        "patch": PIL.Image.fromarray(immunohistochemistry()[:50, :50]),  # IDC-sized RGB patch
        "fashion": load_default_dataset("train")[0]["image"],  # 28 px gray
    }


def augmentation_rate(preset: str, size: int, channels: int, image, seconds: float) -> float:
    """Two-view samples per second in this one process (= one DataLoader worker)."""
    views = two_view_transform(preset, size, channels)
    views(image)
    count, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        views(image)
        count += 1
    return count / (time.perf_counter() - start)


def compute_rate(args, size: int, channels: int) -> float:
    """Images/s of the pretraining step at this size (median of repeats)."""
    recipe = PretrainRecipe(
        backbone=args.backbone, num_channels=channels, image_size=size, batch_size=args.batch_size
    )
    moco = build_moco(recipe, encoder_config(recipe)).to(args.device).train()
    optimizer = torch.optim.SGD(trainable_parameters(moco), lr=0.03, momentum=0.9)
    views = [
        torch.randn(args.batch_size, channels, size, size, device=args.device) for _ in range(2)
    ]
    autocast = torch.autocast(args.device.split(":")[0], dtype=torch.bfloat16, enabled=args.bf16)
    sync = torch.cuda.synchronize if args.device.startswith("cuda") else (lambda: None)
    times = []
    for step in range(args.repeats + 1):
        sync()
        start = time.perf_counter()
        with autocast:
            loss = moco(*views).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        sync()
        if step:  # the first is warm-up
            times.append(time.perf_counter() - start)
    return args.batch_size / statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backbone", default="resnet18")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=2.0, help="per augmentation measurement")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--bf16", action="store_true")
    args = parser.parse_args()
    torch.manual_seed(0)
    images = source_images()
    print(
        f"{torch.get_num_threads()} threads, {args.backbone} on {args.device}, batch {args.batch_size}"
    )
    print(
        f"{'preset':<22}{'size':>6}{'source':>9}{'aug img/s/worker':>18}{'step img/s':>15}{'workers needed':>16}"
    )
    for preset, size, channels, source in CASES:
        augment = augmentation_rate(preset, size, channels, images[source], args.seconds)
        compute = compute_rate(args, size, channels)
        print(
            f"{preset:<22}{size:>6}{source:>9}{augment:>18.1f}{compute:>15.1f}{int(np.ceil(compute / augment)):>16}"
        )


if __name__ == "__main__":
    main()
