"""``python -m thumbnailer``: the function's imaging path and settings, on local files;
and ``backfill``, the function's pipeline over a bucket's existing uploads.

Exit status: 0 every file done, 1 some file failed (one line per failure on stderr),
2 bad usage or configuration, 130 interrupted (backfill: run it again to continue).

``thumbnail`` imports only what thumbnailing needs (no Cloud Storage client, no pathlib
or tempfile): on one small file, start-up is most of the run.
"""

import argparse
import enum
import functools
import itertools
import os
import sys
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, NamedTuple, TextIO

from thumbnailer import config, errors, parsers
from thumbnailer.config import ImagingSettings
from thumbnailer.declaring import ConfigError, markdown_table
from thumbnailer.domain import FitMode, OutputFormat
from thumbnailer.imaging import check_input_size, render_thumbnails
from thumbnailer.naming import thumbnail_name

if TYPE_CHECKING:
    from thumbnailer.backfill import BackfillPlan


class ExitStatus(enum.IntEnum):
    OK = 0
    FAILED = 1
    USAGE = 2
    INTERRUPTED = 130


def _thumbnail_arguments(thumbnail: argparse.ArgumentParser) -> None:
    thumbnail.add_argument(
        "--size", action="append", type=parsers.parse_sizes, metavar="WxH", help="a box such as 200x200; repeatable"
    )
    thumbnail.add_argument("--mode", type=FitMode, choices=list(FitMode), help="geometry (default: THUMBNAIL_MODE)")
    thumbnail.add_argument(
        "--format", type=OutputFormat, choices=list(OutputFormat), help="output format (default: THUMBNAIL_FORMAT)"
    )
    thumbnail.add_argument("--quality", type=int, choices=range(1, 101), metavar="1-100", help="encoder quality")
    thumbnail.add_argument("-o", "--output-dir", required=True, help="folder for the thumbnails")
    thumbnail.add_argument(
        "-j",
        "--jobs",
        type=int,
        choices=range(1, 257),
        metavar="N",
        default=len(os.sched_getaffinity(0)),
        help="files thumbnailed at once (default: the usable cores, here %(default)s)",
    )
    thumbnail.add_argument(
        "-v", "--verbose", action="store_true", help="also say what the decoders said about damaged files"
    )
    thumbnail.add_argument("files", nargs="+", metavar="FILE")


def _backfill_arguments(backfill: argparse.ArgumentParser) -> None:
    backfill.add_argument("bucket", metavar="BUCKET", type=_bucket_argument, help="the input bucket (gs:// optional)")
    backfill.add_argument("--prefix", default="", help="only objects whose names start with this")
    backfill.add_argument(
        "--workers", type=int, choices=range(1, 65), default=4, metavar="1-64", help="objects in flight (4)"
    )
    backfill.add_argument("--retry-failed", action="store_true", help="also retry uploads with a failure record")
    backfill.add_argument(
        "--regenerate",
        action="store_true",
        help="also redo thumbnails made under other settings (their thumbnail-settings fingerprint differs)",
    )
    backfill.add_argument(
        "--prune",
        action="store_true",
        help="delete the thumbnails of sizes and formats no longer configured (once their replacements are there)",
    )
    backfill.add_argument(
        "--max-uploads",
        type=_argument(parsers.parse_int_in(1, 10**12)),
        metavar="N",
        help="stop after N uploads to do (per task)",
    )
    backfill.add_argument(
        "--max-rate",
        type=_argument(parsers.parse_positive_rate),
        metavar="R",
        help="start at most R uploads a second (per task)",
    )
    backfill.add_argument(
        "--dry-run", action="store_true", help="list and count, and say what it would cost; read and write nothing"
    )
    backfill.add_argument(
        "--delete-source",
        action="store_true",
        help="delete each upload once its thumbnails are written (DELETE_SOURCE is ignored here: a bulk job "
        "deletes only when told on its own command line)",
    )


# Each command: its help line, its description, and what adds its arguments.
_COMMANDS: dict[str, tuple[str, str | None, Callable[[argparse.ArgumentParser], None] | None]] = {
    "thumbnail": (
        "make thumbnails of local files",
        "Make thumbnails of local files exactly as the function does. Options override the THUMBNAIL_* "
        "environment variables; other variables (MAX_INPUT_BYTES, ...) apply as in the function.",
        _thumbnail_arguments,
    ),
    "settings": ("print the environment variables as a Markdown table", None, None),
    "backfill": (
        "make the missing thumbnails for a bucket's existing uploads",
        "Make thumbnails for the objects in BUCKET that have none, with the function's own pipeline and settings "
        "(OUTPUT_BUCKET and the other variables, as deployed). No function is invoked; writes are create-only; a "
        "second run continues where the first stopped.",
        _backfill_arguments,
    ),
}


class _HelpFormatter(argparse.HelpFormatter):
    """argparse's formatter, given the terminal's width: asked for none, it imports shutil
    (and with it bz2 and lzma) to find it, in every run."""

    def __init__(self, prog: str) -> None:
        super().__init__(prog, width=_terminal_width())


@functools.cache
def _terminal_width() -> int:
    try:
        columns = int(os.environ.get("COLUMNS", "0")) or os.get_terminal_size().columns
    except (ValueError, OSError):
        columns = 80
    return columns - 2  # as argparse does


def _build_parser(argv: Sequence[str]) -> argparse.ArgumentParser:
    """The parser; when ``argv`` names a command, with that command alone (a noticeable part
    of a short run otherwise goes to setting up the others)."""
    parser = argparse.ArgumentParser(
        prog="python -m thumbnailer", description=__doc__.split("\n")[0], formatter_class=_HelpFormatter
    )
    commands = parser.add_subparsers(dest="command", required=True)
    named = [argv[0]] if argv and argv[0] in _COMMANDS else list(_COMMANDS)
    for name in named:
        help_line, description, add_arguments = _COMMANDS[name]
        command = commands.add_parser(name, help=help_line, description=description, formatter_class=_HelpFormatter)
        if add_arguments:
            add_arguments(command)
    return parser


def _bucket_argument(value: str) -> str:
    try:
        return parsers.parse_bucket(value.removeprefix("gs://").rstrip("/"))
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def _argument(parse: Callable[[str], float]) -> Callable[[str], float]:
    """A parser of ``parsers`` as an argparse type: its message, not argparse's generic one."""

    def checked(text: str) -> float:
        try:
            return parse(text)
        except ValueError as error:
            raise argparse.ArgumentTypeError(str(error)) from None

    return checked


def _backfill(args: argparse.Namespace, environ: Mapping[str, str], out: TextIO, err: TextIO) -> int:
    # Cloud Storage and its client (gRPC, requests: 200 ms) only for the command that uses them.
    from thumbnailer.backfill import TASK_COUNT, BackfillOptions, BackfillPlan, Share, run_backfill
    from thumbnailer.outcomes import Outcome
    from thumbnailer.storage import CloudStorage

    try:
        settings = config.Settings.from_environ(environ)._replace(delete_source=args.delete_source)
        share = Share.from_environ(environ)
    except ConfigError as error:
        err.write(f"error: {error}\n")
        return ExitStatus.USAGE
    store = CloudStorage(retry_seconds=settings.storage_retry_seconds, timeout_seconds=settings.storage_timeout_seconds)
    options = BackfillOptions(
        prefix=args.prefix,
        retry_failed=args.retry_failed,
        regenerate=args.regenerate,
        prune=args.prune,
        share=share,
        max_uploads=args.max_uploads,
    )
    plan = BackfillPlan(store, settings, args.bucket, options)
    if args.dry_run:
        return _dry_run(plan, out, err)
    from tqdm import tqdm  # only the backfill draws a progress bar

    # disable=None: a bar on a terminal, nothing in a log file (a Cloud Run task's).
    with tqdm(unit="upload", file=err, disable=None, dynamic_ncols=True) as bar:
        summary = run_backfill(plan, workers=args.workers, max_rate=args.max_rate, on_progress=bar.update)
    out.write("".join(f"{line}\n" for line in summary.lines()))
    if summary.interrupted:
        return ExitStatus.INTERRUPTED
    # A Cloud Run task that exits non-zero is run again: worth it for transient errors, not
    # for bad files, whose failures are on record and which a rerun would skip anyway.
    bad_files_fail = TASK_COUNT not in environ
    if summary.aborted or summary.outcomes[Outcome.RETRY] or (bad_files_fail and summary.outcomes[Outcome.FAILED]):
        return ExitStatus.FAILED
    return ExitStatus.OK


def _dry_run(plan: "BackfillPlan", out: TextIO, err: TextIO) -> int:
    from thumbnailer import estimates
    from thumbnailer.backfill import BackfillSummary, moderating_annotator

    try:
        for _ in plan:
            pass
    except errors.ThumbnailerError as error:
        err.write(f"error: cannot list the buckets: {error}\n")
        return ExitStatus.FAILED
    except KeyboardInterrupt:
        err.write("interrupted while listing; nothing was written\n")
        return ExitStatus.INTERRUPTED
    counts = plan.counts
    vision = moderating_annotator(plan.settings) is not None
    requests = estimates.backfill_requests(
        counts.to_do, counts.listed, counts.outputs_listed, counts.to_prune, plan.settings, vision=vision
    )
    out.write(BackfillSummary(plan).plan_line() + " (dry run: nothing read or written)\n")
    out.write(requests.line() + "\n")
    tables = estimates.load_tables()
    if tables is None:
        out.write("no price table here (bench/prices.json): requests only\n")
    else:
        prices, inputs = tables
        bill = estimates.job_bill(requests, estimates.cpu_seconds(dict(counts.to_do_types), inputs), prices)
        out.write(estimates.cost_line(bill, prices) + "\n")
    return ExitStatus.OK


def _settings(args: argparse.Namespace, environ: Mapping[str, str]) -> ImagingSettings:
    # Files on disk carry no object metadata: no placeholders to compute (nor thumbhash to import).
    settings = ImagingSettings.from_environ(environ)._replace(with_placeholders=False)
    overrides: dict[str, object] = {}
    if args.size:
        sizes = tuple(size for group in args.size for size in group)
        if len(set(sizes)) != len(sizes):
            raise ConfigError("--size: a size is given twice")
        overrides["sizes"] = sizes
    for option in ("mode", "format", "quality"):
        if getattr(args, option) is not None:
            overrides[option] = getattr(args, option)
    return settings._replace(**overrides)  # type: ignore[arg-type]


_temporary_names = itertools.count()


def _write_atomically(path: str, data: bytes) -> None:
    """Write to a temporary file and rename it, so no half-written thumbnail is ever seen."""
    folder, name = os.path.split(path)
    temporary = os.path.join(folder, f".tmp-{name}.{os.getpid()}.{threading.get_ident()}.{next(_temporary_names)}")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    try:
        with os.fdopen(descriptor, "wb") as file:
            file.write(data)
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.unlink(temporary)
        raise


class _FileResult(NamedTuple):
    written: tuple[str, ...] = ()
    failure: str | None = None  # "reason: detail"
    warnings: tuple[str, ...] = ()


def _thumbnail_file(source: str, settings: ImagingSettings, output_dir: str, output_name: str) -> _FileResult:
    try:
        check_input_size(os.stat(source).st_size, settings)
        with open(source, "rb") as file:
            data = file.read()
        rendering = render_thumbnails(data, settings)
        written = []
        for size, thumbnail in zip(settings.sizes, rendering.thumbnails, strict=True):
            target = os.path.join(
                output_dir, thumbnail_name(os.path.basename(source), size, thumbnail.extension, template=output_name)
            )
            os.makedirs(os.path.dirname(target), exist_ok=True)  # the template may add folders
            _write_atomically(target, thumbnail.data)
            written.append(target)
    except errors.ThumbnailerError as error:
        return _FileResult(failure=f"{error.reason}: {error}", warnings=error.warnings)
    except OSError as error:
        return _FileResult(failure=f"unreadable: {error.strerror or error}")
    return _FileResult(tuple(written), warnings=rendering.warnings)


def _thumbnail_files(args: argparse.Namespace, settings: ImagingSettings, output_name: str) -> Iterator[_FileResult]:
    """Each file's result, in the order given; up to ``--jobs`` files in flight (Pillow
    and libvips let go of the interpreter while they decode, resize and encode)."""

    def one(source: str) -> _FileResult:
        return _thumbnail_file(source, settings, args.output_dir, output_name)

    if args.jobs == 1 or len(args.files) == 1:
        yield from map(one, args.files)
        return
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=min(args.jobs, len(args.files)), thread_name_prefix="thumbnail") as pool:
        yield from pool.map(one, args.files)


def main(
    argv: Sequence[str] | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    stdout: TextIO | None = None,
    stderr: TextIO | None = None,
) -> int:
    environ = os.environ if environ is None else environ
    out, err = stdout or sys.stdout, stderr or sys.stderr
    argv = sys.argv[1:] if argv is None else argv
    args = _build_parser(argv).parse_args(argv)
    if args.command == "settings":
        out.write(markdown_table(config.Settings) + "\n")
        return ExitStatus.OK
    if args.command == "backfill":
        return _backfill(args, environ, out, err)
    try:
        settings = _settings(args, environ)
        output_name = config.read_output_name(environ, settings.sizes)
    except ConfigError as error:
        err.write(f"error: {error}\n")
        return ExitStatus.USAGE
    os.makedirs(args.output_dir, exist_ok=True)
    status = ExitStatus.OK
    for source, result in zip(args.files, _thumbnail_files(args, settings, output_name), strict=True):
        out.writelines(f"{path}\n" for path in result.written)
        if args.verbose:
            err.writelines(f"{source}: warning: {message}\n" for message in result.warnings)
        if result.failure is not None:
            err.write(f"{source}: {result.failure}\n")
            status = ExitStatus.FAILED
    return status
