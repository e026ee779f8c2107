"""``python -m thumbnailer``: the function's imaging path and settings, on local files;
and ``backfill``, the function's pipeline over a bucket's existing uploads.

Exit status: 0 every file done, 1 some file failed (one line per failure on stderr),
2 bad usage or configuration, 130 interrupted (backfill: run it again to continue).
"""

from __future__ import annotations

import argparse
import enum
import os
import sys
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TextIO

from thumbnailer import config, errors
from thumbnailer.backfill import BackfillSummary, Outcome, plan_backfill, run_backfill
from thumbnailer.config import ConfigError, FitMode, ImagingSettings, OutputFormat
from thumbnailer.imaging import check_input_size, render_thumbnails
from thumbnailer.naming import thumbnail_name
from thumbnailer.storage import CloudStorage


class ExitStatus(enum.IntEnum):
    OK = 0
    FAILED = 1
    USAGE = 2
    INTERRUPTED = 130


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m thumbnailer", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    thumbnail = commands.add_parser(
        "thumbnail",
        help="make thumbnails of local files",
        description="Make thumbnails of local files exactly as the function does. Options override the "
        "THUMBNAIL_* environment variables; other variables (MAX_INPUT_BYTES, ...) apply as in the function.",
    )
    thumbnail.add_argument(
        "--size", action="append", type=config.parse_sizes, metavar="WxH", help="a box such as 200x200; repeatable"
    )
    thumbnail.add_argument("--mode", type=FitMode, choices=list(FitMode), help="geometry (default: THUMBNAIL_MODE)")
    thumbnail.add_argument(
        "--format", type=OutputFormat, choices=list(OutputFormat), help="output format (default: THUMBNAIL_FORMAT)"
    )
    thumbnail.add_argument("--quality", type=int, choices=range(1, 101), metavar="1-100", help="encoder quality")
    thumbnail.add_argument("-o", "--output-dir", type=Path, required=True, help="folder for the thumbnails")
    thumbnail.add_argument("files", nargs="+", type=Path, metavar="FILE")
    commands.add_parser("settings", help="print the environment variables as a Markdown table")
    backfill = commands.add_parser(
        "backfill",
        help="make the missing thumbnails for a bucket's existing uploads",
        description="Make thumbnails for the objects in BUCKET that have none, with the function's own pipeline "
        "and settings (OUTPUT_BUCKET and the other variables, as deployed). No function is invoked; writes are "
        "create-only; a second run continues where the first stopped.",
    )
    backfill.add_argument("bucket", metavar="BUCKET", type=_bucket_argument, help="the input bucket (gs:// optional)")
    backfill.add_argument("--prefix", default="", help="only objects whose names start with this")
    backfill.add_argument(
        "--workers", type=int, choices=range(1, 65), default=4, metavar="1-64", help="objects in flight (4)"
    )
    backfill.add_argument("--retry-failed", action="store_true", help="also retry uploads with a failure record")
    backfill.add_argument("--dry-run", action="store_true", help="list and count, read and write nothing")
    backfill.add_argument(
        "--delete-source",
        action="store_true",
        help="delete each upload once its thumbnails are written (DELETE_SOURCE is ignored here: a bulk job "
        "deletes only when told on its own command line)",
    )
    return parser


def _bucket_argument(value: str) -> str:
    try:
        return config.parse_bucket(value.removeprefix("gs://").rstrip("/"))
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def _backfill(args: argparse.Namespace, environ: Mapping[str, str], out: TextIO, err: TextIO) -> int:
    try:
        settings = replace(config.Settings.from_environ(environ), delete_source=args.delete_source)
    except ConfigError as error:
        err.write(f"error: {error}\n")
        return ExitStatus.USAGE
    store = CloudStorage(retry_seconds=settings.storage_retry_seconds, timeout_seconds=settings.storage_timeout_seconds)
    try:
        plan = plan_backfill(store, settings, args.bucket, args.prefix, retry_failed=args.retry_failed)
    except errors.ThumbnailerError as error:
        err.write(f"error: cannot list the buckets: {error}\n")
        return ExitStatus.FAILED
    except KeyboardInterrupt:
        err.write("interrupted while listing; nothing was written\n")
        return ExitStatus.INTERRUPTED
    if args.dry_run:
        out.write(BackfillSummary(plan).lines()[0] + " (dry run: nothing read or written)\n")
        return ExitStatus.OK
    from tqdm import tqdm  # only the backfill draws a progress bar

    # disable=None: a bar on a terminal, nothing in a log file.
    with tqdm(total=len(plan.todo), unit="object", file=err, disable=None, dynamic_ncols=True) as bar:
        summary = run_backfill(plan, settings, store, args.bucket, workers=args.workers, on_progress=bar.update)
    out.write("".join(f"{line}\n" for line in summary.lines()))
    if summary.interrupted:
        return ExitStatus.INTERRUPTED
    if summary.aborted or summary.outcomes[Outcome.FAILED] or summary.outcomes[Outcome.ERROR]:
        return ExitStatus.FAILED
    return ExitStatus.OK


def _settings(args: argparse.Namespace, environ: Mapping[str, str]) -> ImagingSettings:
    settings = ImagingSettings.from_environ(environ)
    overrides: dict[str, object] = {}
    if args.size:
        sizes = tuple(size for group in args.size for size in group)
        if len(set(sizes)) != len(sizes):
            raise ConfigError("--size: a size is given twice")
        overrides["sizes"] = sizes
    for option in ("mode", "format", "quality"):
        if getattr(args, option) is not None:
            overrides[option] = getattr(args, option)
    return replace(settings, **overrides)  # type: ignore[arg-type]


def _write_atomically(path: Path, data: bytes) -> None:
    """Write to a temporary file and rename it, so no half-written thumbnail is ever seen."""
    with tempfile.NamedTemporaryFile(dir=path.parent, prefix=".tmp-", delete=False) as temporary:
        temporary.write(data)
    os.chmod(temporary.name, 0o644)  # NamedTemporaryFile makes 0600 files
    os.replace(temporary.name, path)


def _thumbnail_file(source: Path, settings: ImagingSettings, output_dir: Path, output_name: str) -> list[Path]:
    check_input_size(source.stat().st_size, settings)
    rendering = render_thumbnails(source.read_bytes(), settings)
    written = []
    for size, thumbnail in zip(settings.sizes, rendering.thumbnails, strict=True):
        target = output_dir / thumbnail_name(source.name, size, thumbnail.extension, template=output_name)
        target.parent.mkdir(parents=True, exist_ok=True)  # the template may add folders
        _write_atomically(target, thumbnail.data)
        written.append(target)
    return written


def main(
    argv: Sequence[str] | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    stdout: TextIO | None = None,
    stderr: TextIO | None = None,
) -> int:
    environ = os.environ if environ is None else environ
    out, err = stdout or sys.stdout, stderr or sys.stderr
    args = _build_parser().parse_args(argv)
    if args.command == "settings":
        out.write(config.markdown_table() + "\n")
        return ExitStatus.OK
    if args.command == "backfill":
        return _backfill(args, environ, out, err)
    try:
        settings = _settings(args, environ)
        output_name = config.OUTPUT_NAME.read(environ)
        config.check_sizes_apart(output_name, settings.sizes)
    except ConfigError as error:
        err.write(f"error: {error}\n")
        return ExitStatus.USAGE
    args.output_dir.mkdir(parents=True, exist_ok=True)
    status = ExitStatus.OK
    for source in args.files:
        try:
            for path in _thumbnail_file(source, settings, args.output_dir, output_name):
                out.write(f"{path}\n")
        except errors.ThumbnailerError as error:
            err.write(f"{source}: {error.reason}: {error}\n")
            status = ExitStatus.FAILED
        except OSError as error:
            err.write(f"{source}: unreadable: {error.strerror or error}\n")
            status = ExitStatus.FAILED
    return status
