"""``python -m thumbnailer``: the function's imaging path and settings, on local files.

Exit status: 0 every file done, 1 some file failed (one line per failure on stderr),
2 bad usage or configuration.
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
from thumbnailer.config import ConfigError, FitMode, ImagingSettings, OutputFormat
from thumbnailer.imaging import check_input_size, render_thumbnails
from thumbnailer.naming import thumbnail_name


class ExitStatus(enum.IntEnum):
    OK = 0
    FAILED = 1
    USAGE = 2


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
    return parser


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


def _thumbnail_file(source: Path, settings: ImagingSettings, output_dir: Path) -> list[Path]:
    check_input_size(source.stat().st_size, settings)
    rendering = render_thumbnails(source.read_bytes(), settings)
    written = []
    for size, thumbnail in zip(settings.sizes, rendering.thumbnails, strict=True):
        target = output_dir / thumbnail_name(source.name, size, thumbnail.extension)
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
    try:
        settings = _settings(args, environ)
    except ConfigError as error:
        err.write(f"error: {error}\n")
        return ExitStatus.USAGE
    args.output_dir.mkdir(parents=True, exist_ok=True)
    status = ExitStatus.OK
    for source in args.files:
        try:
            for path in _thumbnail_file(source, settings, args.output_dir):
                out.write(f"{path}\n")
        except errors.ThumbnailerError as error:
            err.write(f"{source}: {error.reason}: {error}\n")
            status = ExitStatus.FAILED
        except OSError as error:
            err.write(f"{source}: unreadable: {error.strerror or error}\n")
            status = ExitStatus.FAILED
    return status
