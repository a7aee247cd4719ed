"""Package the Gradio demo as a Hugging Face Space folder, and push it.

    mocoim-space write spaces/mocoim-demo --model your-org/mocoim-demo
    mocoim-space push spaces/mocoim-demo your-org/mocoim-demo-space [--private]

The folder holds `app.py` (the demo of `mocoim_hub.app`, set to load `--model`), a copy of the
`mocoim_hub` package (it is not on PyPI), `requirements.txt` and a `README.md` with the Spaces
front matter.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from collections.abc import Sequence
from pathlib import Path

from ..hub import PushError, push_to_hub
from ..space import write_space


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="mocoim-space", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    commands = parser.add_subparsers(dest="command", required=True)
    write = commands.add_parser("write", help="write a Space folder")
    write.add_argument("folder", type=Path)
    write.add_argument("--model", required=True, help="Hub id of the model the Space shows")
    write.add_argument("--title", default="MoCo-IM encoder explorer")
    write.add_argument("--force", action="store_true", help="overwrite a folder that holds files")
    push = commands.add_parser("push", help="upload a Space folder")
    push.add_argument("folder", type=Path)
    push.add_argument("space_id")
    push.add_argument("--private", action="store_true")
    args = parser.parse_args(argv)
    if args.command == "write":
        try:
            print(write_space(args.folder, args.model, args.title, force=args.force))
        except ValueError as error:
            print(f"error: {error}", file=sys.stderr)
            return 2
        return 0
    if not (args.folder / "app.py").exists():
        print(f"{args.folder} has no app.py; write it first with `mocoim-space write`.",
              file=sys.stderr)  # fmt: skip
        return 2
    try:
        retry = shlex.join(["mocoim-space", "push", str(args.folder),
                            args.space_id] + ["--private"] * args.private)  # fmt: skip
        commit = push_to_hub(args.folder, args.space_id, private=args.private or None,
                             repo_type="space", retry=retry)  # fmt: skip
    except PushError as error:
        print(error, file=sys.stderr)
        return 1
    print(commit.commit_url)
    return 0


if __name__ == "__main__":
    sys.exit(main())
