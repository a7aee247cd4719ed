"""Rebuild the embedded default dataset (mocoim_hub/data/default/*.parquet) from Fashion-MNIST.

apt-get install dataset-fashion-mnist      # the original idx files, MIT licence
python training/build_default_dataset.py [--idx-dir /usr/share/datasets/fashion-mnist]
"""

import argparse
from pathlib import Path

from mocoim_hub.data.default import DATA_DIR, DEBIAN_IDX_DIR, build_default_dataset


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--idx-dir", type=Path, default=DEBIAN_IDX_DIR)
    parser.add_argument("--out-dir", type=Path, default=DATA_DIR)
    args = parser.parse_args()
    sizes = build_default_dataset(args.idx_dir, args.out_dir)
    for split, size in sizes.items():
        path = args.out_dir / f"{split}.parquet"
        print(f"{split:<11} {size:6d} images  {path.stat().st_size / 1e6:5.2f} MB  {path}")


if __name__ == "__main__":
    main()
