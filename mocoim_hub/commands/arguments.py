"""Command-line options that several programs share: one `--field` per pretraining recipe field,
and the publishing options (`--push-to-hub`, `--hub-model-id`, `--private`)."""

from __future__ import annotations

import argparse
import dataclasses
import shlex
import types
import typing
from pathlib import Path

from ..hub import PushError, push_to_hub
from ..pretraining.recipe import FIELD_HELP, PretrainRecipe


def add_recipe_arguments(parser: argparse.ArgumentParser) -> None:
    """One `--field` option per recipe field (`--intermediate-layers 1 2`, `--no-mlp`, ...)."""
    hints = typing.get_type_hints(PretrainRecipe)
    group = parser.add_argument_group("recipe overrides (default: the recipe's value)")
    for item in dataclasses.fields(PretrainRecipe):
        hint = hints[item.name]
        flag = "--" + item.name.replace("_", "-")
        if isinstance(hint, types.UnionType):  # `T | None`: the flag takes a T
            hint = next(a for a in typing.get_args(hint) if a is not type(None))
        text = FIELD_HELP.get(item.name)
        if hint is bool:
            group.add_argument(flag, action=argparse.BooleanOptionalAction, default=None, help=text)
        elif typing.get_origin(hint) is list:
            group.add_argument(
                flag, type=typing.get_args(hint)[0], nargs="+", default=None, help=text
            )
        else:
            group.add_argument(flag, type=hint, default=None, help=text)


def recipe_overrides(args: argparse.Namespace) -> dict[str, typing.Any]:
    """The recipe fields given on the command line."""
    return {
        f.name: getattr(args, f.name)
        for f in dataclasses.fields(PretrainRecipe)
        if getattr(args, f.name, None) is not None
    }


def data_flags(kind: str | None, path: str | None, options: dict[str, typing.Any]) -> str:
    """The flags that name the same images again, for the next command a program suggests."""
    if path is None:
        return "" if kind in (None, "default") else f" --dataset {kind}"
    flags = [f"--dataset {kind}", f"--data-path {shlex.quote(path)}"]
    for name, value in options.items():
        if value:
            values = value if isinstance(value, list) else [value]
            flags.append("--" + name.replace("_", "-") + " " + shlex.join(map(str, values)))
    return " " + " ".join(flags)


def add_hub_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("publishing")
    group.add_argument("--push-to-hub", action="store_true", help="upload the model when done")
    group.add_argument("--hub-model-id", help="org/name of the Hub repo (used in the model card)")
    group.add_argument("--private", action="store_true", help="create the repo as private")


def check_hub_arguments(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    if args.push_to_hub and not args.hub_model_id:
        parser.error("--push-to-hub needs --hub-model-id org/name.")


def publish(folder: Path, args: argparse.Namespace) -> None:
    """Push `folder` if the program was asked to; on failure exit non-zero, files kept."""
    if not args.push_to_hub:
        return
    try:
        commit = push_to_hub(folder, args.hub_model_id, private=args.private or None)
    except PushError as error:
        raise SystemExit(f"{error}\nThe saved model is in {folder}.") from None
    print(f"pushed {folder} to {commit.commit_url}")
