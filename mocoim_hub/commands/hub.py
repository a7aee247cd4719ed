"""Render model cards and push saved model folders to the Hugging Face Hub.

    mocoim-hub push runs/demo/model your-org/mocoim-demo [--private]
    mocoim-hub card runs/demo/model your-org/mocoim-demo      # (re)render README.md
    mocoim-hub card --recipe paper-nih your-org/mocoim-nih -o card.md

The token and endpoint come from huggingface_hub as usual (`HF_TOKEN` or `hf auth login`,
`HF_ENDPOINT`); it is never printed or written. Uploads retry transient failures with exponential
backoff; the local folder is never modified by a push.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from ..hub import PushError, push_to_hub
from ..model_card import write_model_card


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="mocoim-hub", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    commands = parser.add_subparsers(dest="command", required=True)
    push = commands.add_parser("push", help="upload a saved model folder")
    push.add_argument("folder", type=Path)
    push.add_argument("repo_id")
    push.add_argument("--private", action="store_true")
    push.add_argument("--revision", help="branch to push to (created if needed)")
    push.add_argument("--create-pr", action="store_true", help="open a pull request instead")
    push.add_argument("--commit-message")
    push.add_argument(
        "--overwrite-card", action="store_true", help="replace a card that was edited on the Hub"
    )
    push.add_argument("--attempts", type=int, default=4,
                      help="tries on transient errors, with exponential backoff from 2 s")  # fmt: skip
    card = commands.add_parser("card", help="render a model card")
    card.add_argument("folder", type=Path, nargs="?", help="saved model folder (writes README.md)")
    card.add_argument("repo_id")
    card.add_argument("--recipe", help="render the card of a recipe's model instead of a folder's")
    card.add_argument("-o", "--output", type=Path, help="with --recipe: where to write the card")
    card.add_argument("--results", type=Path,
                      help="with --recipe: a mocoim-finetune results.json measured on a run of the "
                           "recipe; its first model's rows, with the others' beside them")  # fmt: skip
    args = parser.parse_args(argv)

    if args.command == "card":
        return _card(parser, args)
    try:
        commit = push_to_hub(args.folder, args.repo_id, private=args.private or None,
                             revision=args.revision, create_pr=args.create_pr,
                             commit_message=args.commit_message,
                             overwrite_card=args.overwrite_card, attempts=args.attempts)  # fmt: skip
    except PushError as error:
        print(error, file=sys.stderr)
        return 1
    print(commit.pr_url or commit.commit_url)
    return 0


def _card(parser: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    if args.recipe is None:
        if args.folder is None or args.results is not None:
            parser.error("card: give a saved model folder, or --recipe NAME (--results only with "
                         "--recipe).")  # fmt: skip
        print(write_model_card(args.folder, args.repo_id))
        return 0
    from ..finetune.report import measured_rows  # training-side code, needed here only
    from ..pretraining.build import planned_model_card

    try:
        measured = measured_rows(args.results) if args.results is not None else ()
        text = planned_model_card(args.recipe, args.repo_id, *measured)
    except (FileNotFoundError, ValueError) as error:
        parser.error(f"card: {error}")
    if args.output is None:
        print(text, end="")
    else:
        args.output.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
