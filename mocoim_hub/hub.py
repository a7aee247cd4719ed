"""Publishing: save a model folder with its card, then upload it to the Hugging Face Hub
(`mocoim-hub push` is the command; `mocoim_hub.commands.hub`).

The token and endpoint come from huggingface_hub as usual (`HF_TOKEN` or `hf auth login`,
`HF_ENDPOINT`); the token is never printed or written by this module. Uploads retry transient
failures with exponential backoff; the local folder is never modified by a push.
"""

from __future__ import annotations

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

from .manifest import MANIFEST_FILE, replace_folder
from .model_card import (
    LOSS_CURVE_FILE,
    is_unedited,
    save_evaluations,
    write_model_card,
)
from .results import Estimate

__all__ = ["save_for_hub", "push_to_hub", "PushError"]

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
    force: bool = False,
    **card_kwargs,
) -> Path:
    """Write everything a Hub repo of this model holds into `folder`: weights, config, processor,
    code for `trust_remote_code`, loss curve, evaluation results and the rendered model card.

    A model saved there before is replaced whole (`mocoim_hub.manifest.replace_folder`), so no
    card, result or curve of it stays; a folder holding files this package did not write (or a
    card edited since) is refused naming them, unless `force`."""

    def write(staging: Path) -> None:
        model.save_pretrained(staging)
        processor.save_pretrained(staging)
        if loss_curve is not None and Path(loss_curve).exists():
            (staging / LOSS_CURVE_FILE).write_bytes(Path(loss_curve).read_bytes())
        if evaluations:
            save_evaluations(evaluations, staging)
        write_model_card(staging, repo_id, **card_kwargs)

    return replace_folder(folder, write, "the model", force)


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
            ignore_patterns=[MANIFEST_FILE, *([CARD] if keep_remote_card else [])],
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
