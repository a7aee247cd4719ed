"""Inference speed of MocoImModel and MocoImImageProcessor against their torchvision equivalents.

Each pair is timed alternately in the same run (this machine is shared and noisy) and the report
gives medians and the ratio ours / baseline in images per second (goals: model >= 0.97,
processor >= 0.8).

    python benchmarks/bench_inference.py                       # CPU, fp32
    python benchmarks/bench_inference.py --device cuda --bf16 --channels-last --batch-size 64
    python benchmarks/bench_inference.py --compile   # + torch.compile'd model vs eager
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import PIL.Image
import torch
import torchvision
from skimage.data import retina
from torchvision.transforms import v2

from mocoim_hub import MocoImConfig, MocoImImageProcessor, MocoImModel


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backbone", default="resnet18")
    parser.add_argument("--image-size", type=int, default=224)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--bf16", action="store_true", help="bf16 autocast")
    parser.add_argument("--channels-last", action="store_true")
    parser.add_argument("--compile", action="store_true", help="also time compiled vs eager")
    return parser.parse_args()


def paired_medians(
    ours: Callable[[], None], baseline: Callable[[], None], repeats: int, sync
) -> tuple[float, float]:
    """Median seconds of each, timed alternately after one warm-up call each."""
    times: dict[Callable, list[float]] = {ours: [], baseline: []}
    for fn in (ours, baseline):
        fn()
    for _ in range(repeats):
        for fn in (ours, baseline):
            sync()
            start = time.perf_counter()
            fn()
            sync()
            times[fn].append(time.perf_counter() - start)
    return statistics.median(times[ours]), statistics.median(times[baseline])


def report(name: str, n: int, ours: float, baseline: float) -> None:
    print(
        f"{name:<34} ours {n / ours:9.1f} img/s   baseline {n / baseline:9.1f} img/s   "
        f"ratio {baseline / ours:.3f}"
    )


def bench_model(args: argparse.Namespace, sync) -> None:
    config = MocoImConfig(backbone=args.backbone, num_channels=3, image_size=args.image_size)
    model = MocoImModel(config).eval()
    bare = getattr(torchvision.models, args.backbone)()
    bare.fc = torch.nn.Identity()
    bare.load_state_dict(
        {k.removeprefix("encoder."): v for k, v in model.state_dict().items()}, strict=False
    )
    memory_format = torch.channels_last if args.channels_last else torch.contiguous_format
    model, bare = (m.eval().to(args.device, memory_format=memory_format) for m in (model, bare))
    pixels = torch.randn(args.batch_size, 3, args.image_size, args.image_size, device=args.device)
    pixels = pixels.contiguous(memory_format=memory_format)
    autocast = torch.autocast(args.device.split(":")[0], dtype=torch.bfloat16, enabled=args.bf16)

    def ours():
        with torch.inference_mode(), autocast:
            model(pixels)

    def baseline():
        with torch.inference_mode(), autocast:
            bare(pixels)

    label = f"model {args.backbone} {args.image_size}px b{args.batch_size}" + (
        " bf16" if args.bf16 else ""
    )
    report(label, args.batch_size, *paired_medians(ours, baseline, args.repeats, sync))
    if args.compile:
        compiled = torch.compile(model)

        def ours_compiled():
            with torch.inference_mode(), autocast:
                compiled(pixels)

        ours_compiled()  # compiles; paired_medians' warm-up call then runs the compiled code
        timed = paired_medians(ours_compiled, ours, args.repeats, sync)
        report(label + " compiled vs eager", args.batch_size, *timed)


def bench_processor(args: argparse.Namespace, image: PIL.Image.Image, channels: int) -> None:
    """Our processor vs the torchvision v2 pipeline that gives the same tensor."""
    images = [image] * args.batch_size
    processor = MocoImImageProcessor(
        num_channels=channels, size=args.image_size, crop_size=args.image_size
    )
    pipeline = v2.Compose([
        v2.ToImage(), v2.Resize(args.image_size, antialias=True), v2.CenterCrop(args.image_size),
        v2.ToDtype(torch.float32, scale=True), v2.Normalize(processor.image_mean, processor.image_std),
    ])  # fmt: skip
    assert torch.allclose(processor(images[:1])["pixel_values"][0], pipeline(image), atol=1e-5)

    def ours():
        processor(images)

    def baseline():
        torch.stack([pipeline(i) for i in images])

    label = f"processor {image.size[0]}px {image.mode} -> {args.image_size}px"
    report(label, len(images), *paired_medians(ours, baseline, args.repeats, lambda: None))


def main() -> None:
    args = parse_args()
    sync = torch.cuda.synchronize if args.device.startswith("cuda") else (lambda: None)
    print(
        f"device {args.device}, torch {torch.__version__}, {torch.get_num_threads()} threads, "
        f"medians of {args.repeats}"
    )
    bench_model(args, sync)
    fundus = PIL.Image.fromarray(retina())  # real 1411 px RGB image
    bench_processor(args, fundus, channels=3)
    bench_processor(args, fundus.convert("L"), channels=1)


if __name__ == "__main__":
    main()
