"""Pretraining step speed: our MoCo-IM against a minimal MoCo v2 step written like the reference
facebookresearch/moco `builder.py`, same backbone, batch, image size and precision, in one run.

(a) baseline: plain PyTorch, torchvision ResNet + MLP head, Python-loop EMA, queue, InfoNCE;
(b) ours, intermediate loss `none`; (c) ours + `mse`; (d) ours + `barlow`; with `--compile`
also (e) ours, `none`, with the recipe's `compile` (torch.compile of the encoder passes).
Goals: b/a >= 0.97, c within 5 % of b, d within 15 % of b; e/b is reported as measured. Medians of interleaved repeats; peak
memory from a separate forked process per variant (CPU: resident-set growth; CUDA: allocator peak).

    python benchmarks/bench_pretrain.py [--backbone resnet50 --image-size 224 --device cuda --bf16]
    python benchmarks/bench_pretrain.py --compile   # + compiled vs eager (compiling takes minutes)
"""

from __future__ import annotations

import argparse
import copy
import multiprocessing
import resource
import statistics
import time

import torch
import torchvision
from torch import nn
from torch.nn import functional as F

from mocoim_hub.pretraining.build import build_moco, encoder_config, trainable_parameters
from mocoim_hub.pretraining.recipe import PretrainRecipe


class ReferenceMoCo(nn.Module):
    """MoCo v2 as in builder.py (single device: no shuffle-BN, no gather)."""

    def __init__(self, backbone: str, channels: int, dim=128, K=4096, m=0.99, T=0.2):
        super().__init__()
        self.K, self.m, self.T = K, m, T
        self.encoder_q = getattr(torchvision.models, backbone)(
            num_classes=dim, zero_init_residual=True
        )
        self.encoder_q.conv1 = nn.Conv2d(channels, 64, 7, 2, 3, bias=False)
        hidden = self.encoder_q.fc.weight.shape[1]
        self.encoder_q.fc = nn.Sequential(
            nn.Linear(hidden, hidden), nn.ReLU(), nn.Linear(hidden, dim)
        )
        self.encoder_k = copy.deepcopy(self.encoder_q)
        for param_k in self.encoder_k.parameters():
            param_k.requires_grad = False
        self.register_buffer("queue", F.normalize(torch.randn(dim, K), dim=0))
        self.register_buffer("queue_ptr", torch.zeros(1, dtype=torch.long))

    @torch.no_grad()
    def _momentum_update_key_encoder(self):
        for param_q, param_k in zip(
            self.encoder_q.parameters(), self.encoder_k.parameters(), strict=True
        ):
            param_k.data = param_k.data * self.m + param_q.data * (1.0 - self.m)

    @torch.no_grad()
    def _dequeue_and_enqueue(self, keys):
        ptr = int(self.queue_ptr)
        self.queue[:, ptr : ptr + keys.shape[0]] = keys.T
        self.queue_ptr[0] = (ptr + keys.shape[0]) % self.K

    def forward(self, im_q, im_k):
        q = F.normalize(self.encoder_q(im_q), dim=1)  # NxC
        with torch.no_grad():
            self._momentum_update_key_encoder()
            k = F.normalize(self.encoder_k(im_k), dim=1)  # NxC
        l_pos = torch.einsum("nc,nc->n", [q, k]).unsqueeze(-1)  # Nx1
        l_neg = torch.einsum("nc,ck->nk", [q, self.queue.clone().detach()])  # NxK
        logits = torch.cat([l_pos, l_neg], dim=1) / self.T
        labels = torch.zeros(logits.shape[0], dtype=torch.long, device=logits.device)
        self._dequeue_and_enqueue(k)
        return F.cross_entropy(logits.float(), labels)


def make_variant(name: str, args) -> tuple[nn.Module, torch.optim.Optimizer, callable]:
    torch.manual_seed(0)
    if name == "reference":
        model = ReferenceMoCo(args.backbone, args.channels, K=args.queue_size)
        params = [p for p in model.parameters() if p.requires_grad]
        loss_of = model
    else:
        loss = "none" if name == "compiled" else name
        recipe = PretrainRecipe(
            backbone=args.backbone, num_channels=args.channels, image_size=args.image_size,
            queue_size=args.queue_size, batch_size=args.batch_size, intermediate_loss=loss,
            intermediate_weights=[0.25] * 4 if name == "mse" else [0.005] * 4, barlow_dim=args.barlow_dim,
            compile=name == "compiled",
        )  # fmt: skip
        model = build_moco(recipe, encoder_config(recipe))
        params = trainable_parameters(model)

        def loss_of(view1, view2):
            return model(view1, view2).loss

    memory_format = torch.channels_last if args.channels_last else torch.contiguous_format
    model = model.to(args.device, memory_format=memory_format).train()
    optimizer = torch.optim.SGD(params, lr=0.03, momentum=0.9, weight_decay=1e-4)
    autocast = torch.autocast(args.device.split(":")[0], dtype=torch.bfloat16, enabled=args.bf16)
    shape = (args.batch_size, args.channels, args.image_size, args.image_size)
    views = [
        torch.randn(shape, device=args.device).contiguous(memory_format=memory_format)
        for _ in range(2)
    ]

    def step():
        with autocast:
            loss = loss_of(*views)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    return model, optimizer, step


def peak_memory_mb(name: str, args, queue) -> None:
    """Runs in a forked child: memory added by building and stepping this variant."""
    start_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    if args.device.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats()
    _, _, step = make_variant(name, args)
    for _ in range(3):
        step()
    if args.device.startswith("cuda"):
        queue.put(torch.cuda.max_memory_allocated() / 2**20)
    else:
        queue.put((resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - start_rss) / 1024)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backbone", default="resnet18")
    parser.add_argument("--channels", type=int, default=1)
    parser.add_argument("--image-size", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--queue-size", type=int, default=4096)
    parser.add_argument("--barlow-dim", type=int, default=512)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--bf16", action="store_true")
    parser.add_argument("--channels-last", action="store_true")
    parser.add_argument("--compile", action="store_true", help="add (e), compiled")
    args = parser.parse_args()
    names = ["reference", "none", "mse", "barlow"] + (["compiled"] if args.compile else [])
    sync = torch.cuda.synchronize if args.device.startswith("cuda") else (lambda: None)

    memory = {}
    context = multiprocessing.get_context("spawn" if args.device.startswith("cuda") else "fork")
    for name in names:
        queue = context.Queue()
        child = context.Process(target=peak_memory_mb, args=(name, args, queue))
        child.start()
        memory[name] = queue.get()
        child.join()

    steps = {name: make_variant(name, args)[2] for name in names}
    times = {name: [] for name in names}
    for step in steps.values():
        step()  # warm-up (and compilation)
        step()
    for _ in range(args.repeats):
        for name, step in steps.items():
            sync()
            start = time.perf_counter()
            step()
            sync()
            times[name].append(time.perf_counter() - start)

    rate = {name: args.batch_size / statistics.median(t) for name, t in times.items()}
    print(
        f"{args.backbone} {args.channels}ch {args.image_size}px batch {args.batch_size} on {args.device}"
        f"{' bf16' if args.bf16 else ''}{' channels_last' if args.channels_last else ''}, "
        f"{torch.get_num_threads()} threads, medians of {args.repeats}"
    )
    labels = {"reference": "(a) reference builder.py", "none": "(b) ours, none",
              "mse": "(c) ours, mse", "barlow": "(d) ours, barlow", "compiled": "(e) ours, compiled"}  # fmt: skip
    for name in names:
        ratio = (
            rate[name] / rate["reference" if name == "none" else "none"]
            if name != "reference"
            else 1.0
        )
        against = "" if name == "reference" else "vs (a)" if name == "none" else "vs (b)"
        print(
            f"{labels[name]:<26} {rate[name]:8.1f} img/s   ratio {ratio:.3f} {against:<7} peak memory {memory[name]:8.1f} MB"
        )


if __name__ == "__main__":
    main()
