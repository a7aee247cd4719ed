"""Publishing: save a model folder with its card, then upload it to the Hugging Face Hub.

    mocoim-hub push runs/demo/model your-org/mocoim-demo [--private]
    mocoim-hub card runs/demo/model your-org/mocoim-demo      # (re)render README.md
    mocoim-hub card --recipe paper-nih your-org/mocoim-nih -o card.md

The token and endpoint come from huggingface_hub as usual (`HF_TOKEN` or `hf auth login`,
`HF_ENDPOINT`); the token is never printed or written by this module. Uploads retry transient
failures with exponential backoff; the local folder is never modified by a push.
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import shlex
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TypeVar

import httpx2
from huggingface_hub import CommitInfo, HfApi, get_session
from huggingface_hub.errors import HfHubHTTPError, LocalTokenNotFoundError, RemoteEntryNotFoundError

from .model_card import (
    LOSS_CURVE_FILE,
    is_unedited,
    render_model_card,
    save_evaluations,
    write_model_card,
)
from .results import Estimate

T = TypeVar("T")
CARD = "README.md"
DEFAULT_TIMEOUT_S = 60.0  # a Hub request with no answer for this long is retried


class PushError(RuntimeError):
    """A push that failed; the message says why and how to retry. The local folder is intact."""


def save_for_hub(
    model,
    processor,
    folder: str | Path,
    repo_id: str,
    *,
    loss_curve: str | Path | None = None,
    evaluations: Sequence[Estimate] = (),
    **card_kwargs,
) -> Path:
    """Write everything a Hub repo of this model holds into `folder`: weights, config, processor,
    code for `trust_remote_code`, loss curve, evaluation results and the rendered model card."""
    folder = Path(folder)
    model.save_pretrained(folder)
    processor.save_pretrained(folder)
    if loss_curve is not None and Path(loss_curve).exists():
        (folder / LOSS_CURVE_FILE).write_bytes(Path(loss_curve).read_bytes())
    if evaluations:
        save_evaluations(evaluations, folder)
    write_model_card(folder, repo_id, **card_kwargs)
    return folder


def push_to_hub(
    folder: str | Path,
    repo_id: str,
    *,
    private: bool | None = None,
    revision: str | None = None,
    create_pr: bool = False,
    commit_message: str | None = None,
    overwrite_card: bool = False,
    attempts: int = 4,
    backoff_s: float = 2.0,
    repo_type: str = "model",
    retry: str | None = None,
    timeout_s: float = DEFAULT_TIMEOUT_S,
) -> CommitInfo:
    """Upload a saved model folder (or, with `repo_type="space"`, a Space folder) to `repo_id`
    (created if needed) in one commit.

    A card on the Hub that someone edited (it no longer matches the fingerprint we generate) is
    kept unless `overwrite_card`. Transient failures (connection errors, timeouts, HTTP 429/5xx)
    are retried `attempts` times with exponential backoff; any failure raises `PushError` saying
    what happened and the command that retries (`retry`, by default this module's CLI). A server
    that sends nothing for `timeout_s` seconds counts as a timeout (huggingface_hub itself waits
    forever).
    """
    folder = Path(folder)
    space = repo_type == "space"
    if not space:
        _check_model_folder(folder)
    retry = retry or retry_command(folder, repo_id, private, revision, create_pr, overwrite_card)
    api = HfApi()

    def upload() -> CommitInfo:
        api.create_repo(repo_id, private=private, exist_ok=True, repo_type=repo_type,
                        space_sdk="gradio" if space else None)  # fmt: skip
        if revision is not None and not create_pr:
            api.create_branch(repo_id, branch=revision, exist_ok=True, repo_type=repo_type)
        keep_remote_card = not (space or overwrite_card) and _card_was_edited(
            api, repo_id, revision
        )
        if keep_remote_card:
            print(
                f"note: the model card of {repo_id} was edited on the Hub; kept it (pass "
                "--overwrite-card to replace it with the local README.md).",
                file=sys.stderr,
            )
        return api.upload_folder(
            folder_path=folder,
            repo_id=repo_id,
            repo_type=repo_type,
            revision=revision,
            create_pr=create_pr,
            commit_message=commit_message or f"Upload {folder.name} with mocoim_hub",
            ignore_patterns=[CARD] if keep_remote_card else None,
        )

    with hub_timeout(timeout_s):
        return with_retries(
            upload, attempts, backoff_s, what=f"push {folder} to {repo_id}", retry=retry
        )


@contextlib.contextmanager
def hub_timeout(seconds: float):
    """Within the block, huggingface_hub's shared HTTP client (the user's own, with its proxies,
    if they set a factory) gives up on a request when the server sends nothing for `seconds`
    (its default client has no timeout at all)."""
    client = get_session()
    previous, client.timeout = client.timeout, httpx2.Timeout(seconds)
    try:
        yield
    finally:
        client.timeout = previous


def _check_model_folder(folder: Path) -> None:
    if not folder.is_dir():
        raise PushError(f"{folder} is not a folder; expected a saved model folder to upload.")
    missing = [] if (folder / "config.json").exists() else ["config.json"]
    missing += [] if any(folder.glob("*.safetensors")) else ["*.safetensors weights"]
    if missing:
        raise PushError(
            f"{folder} is not a saved model folder: {', '.join(missing)} missing. Save the model "
            "with save_pretrained (mocoim-pretrain writes OUTPUT_DIR/model) and push that."
        )


def _card_was_edited(api: HfApi, repo_id: str, revision: str | None) -> bool:
    """True if the repo has a card that was not generated by us or was changed after."""
    try:
        path = api.hf_hub_download(repo_id, CARD, revision=revision, force_download=True)
    except RemoteEntryNotFoundError:
        return False
    return not is_unedited(Path(path).read_text(encoding="utf-8"))


def _is_transient(error: BaseException | None) -> bool:
    """Connection errors, timeouts and HTTP 429/5xx, also when wrapped (downloads wrap them)."""
    while error is not None:
        if isinstance(error, HfHubHTTPError) and error.response is not None:
            return error.response.status_code == 429 or error.response.status_code >= 500
        if isinstance(error, httpx2.TransportError | TimeoutError | ConnectionError):
            return True
        error = error.__cause__ or error.__context__
    return False


def _explain(error: Exception) -> str:
    chain = [error]
    while chain[-1].__cause__ is not None:
        chain.append(chain[-1].__cause__)
    for link in chain:
        status = getattr(getattr(link, "response", None), "status_code", None)
        if isinstance(link, LocalTokenNotFoundError) or status in (401, 403):
            return (
                f"the Hub refused the credentials ({type(link).__name__}). Log in with `hf auth "
                "login` or set HF_TOKEN to a token with write access to this repo."
            )
    text = f"{type(error).__name__}: {_first_line(error)}"
    if len(chain) > 1:
        text += f" (caused by {type(chain[-1]).__name__}: {_first_line(chain[-1])})"
    return text


def _first_line(error: BaseException) -> str:
    lines = str(error).strip().splitlines()
    return lines[0] if lines else "no message"


def with_retries(
    action: Callable[[], T], attempts: int, backoff_s: float, *, what: str, retry: str
) -> T:
    """`action()`, retried on transient Hub errors with backoff_s, 2*backoff_s, ... in between."""
    for attempt in itertools.count(1):
        try:
            return action()
        except Exception as error:  # classified here, re-raised as PushError
            if not _is_transient(error) or attempt >= attempts:
                tries = f"after {attempt} attempt{'s' if attempt > 1 else ''}"
                raise PushError(
                    f"Could not {what} {tries}: {_explain(error)}\nNothing local was changed. "
                    f"To retry:\n  {retry}"
                ) from error
            delay = backoff_s * 2 ** (attempt - 1)
            print(f"{what}: attempt {attempt}/{attempts} failed ({_explain(error)}); "
                  f"retrying in {delay:g} s", file=sys.stderr)  # fmt: skip
            time.sleep(delay)


def retry_command(
    folder: Path,
    repo_id: str,
    private: bool | None = None,
    revision: str | None = None,
    create_pr: bool = False,
    overwrite_card: bool = False,
) -> str:
    """The shell command that pushes `folder` again with the same options."""
    words = ["mocoim-hub", "push", str(folder), repo_id]
    words += ["--private"] * bool(private) + ["--create-pr"] * create_pr
    words += ["--overwrite-card"] * overwrite_card
    words += ["--revision", revision] if revision else []
    return shlex.join(words)


def add_hub_arguments(parser: argparse.ArgumentParser) -> None:
    """The publishing options the training scripts share."""
    group = parser.add_argument_group("publishing")
    group.add_argument("--push-to-hub", action="store_true", help="upload the model when done")
    group.add_argument("--hub-model-id", help="org/name of the Hub repo (used in the model card)")
    group.add_argument("--private", action="store_true", help="create the repo as private")


def check_hub_arguments(args: argparse.Namespace) -> None:
    if args.push_to_hub and not args.hub_model_id:
        raise SystemExit("--push-to-hub needs --hub-model-id org/name.")


def publish(folder: Path, args: argparse.Namespace) -> None:
    """Push `folder` if the script was asked to; on failure exit non-zero, files kept."""
    if not args.push_to_hub:
        return
    try:
        commit = push_to_hub(folder, args.hub_model_id, private=args.private or None)
    except PushError as error:
        raise SystemExit(f"{error}\nThe saved model is in {folder}.") from None
    print(f"pushed {folder} to {commit.commit_url}")


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
        return _card_command(args)
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


def recipe_results(path: Path | None) -> tuple[list[Estimate], str, list[Estimate]]:
    """`planned_model_card`'s results from a `mocoim-finetune` results.json: the first model's
    rows, where they were measured, and the rows of the encoders measured beside it."""
    if path is None:
        return [], "", []
    from .finetune import baseline_evaluations, card_evaluations, read_results  # needs the extras

    try:
        results = read_results(path)
    except (FileNotFoundError, ValueError) as error:
        raise SystemExit(f"card: {error}") from error
    model = results.runs[0].model
    file = f"{path.parent.name}/{path.name}"  # not the whole path: a card names no machine path
    where = f"by `mocoim-finetune` on a run of this recipe (`{model}` in `{file}`)"
    return card_evaluations(results, model), where, baseline_evaluations(results, model)


def _card_command(args: argparse.Namespace) -> int:
    if args.recipe is None:
        if args.folder is None or args.results is not None:
            print("card: give a saved model folder, or --recipe NAME (--results only with "
                  "--recipe).", file=sys.stderr)  # fmt: skip
            return 2
        print(write_model_card(args.folder, args.repo_id))
        return 0
    text = planned_model_card(args.recipe, args.repo_id, *recipe_results(args.results))
    if args.output is None:
        print(text, end="")
    else:
        args.output.write_text(text, encoding="utf-8")
    return 0


def planned_model_card(
    recipe_name: str,
    repo_id: str,
    evaluations: Sequence[Estimate] = (),
    measured_in: str = "",
    baselines: Sequence[Estimate] = (),
) -> str:
    """The card of the model a recipe will produce, before it is trained (as `model_cards/`
    holds for the models we intend to publish), with the results of the recipe measured
    `measured_in` if there are any, and those of `baselines` beside them."""
    from .pretraining.build import encoder_config  # training-side code, needed here only
    from .pretraining.recipe import PretrainRecipe

    recipe = PretrainRecipe.load(recipe_name)
    data = "" if recipe.dataset == "default" else " --data-path DATA"
    status = (
        "not trained yet. This card is rendered from the recipe; the published model's card is "
        f"rendered from the run itself. Produce it with `mocoim-pretrain --recipe "
        f"{recipe_name}{data} --output-dir runs/{recipe_name} --push-to-hub "
        f"--hub-model-id {repo_id}`."
    )
    if evaluations:
        status += f" The evaluation below was measured {measured_in}."
    config = encoder_config(recipe)
    card = render_model_card(
        config, repo_id, evaluations=evaluations, baselines=baselines, status=status
    )
    return str(card)


if __name__ == "__main__":
    sys.exit(main())
