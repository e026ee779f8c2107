"""Names of the objects written to the output bucket.

By default a thumbnail is named ``{OUTPUT_PREFIX}{source name}_{W}x{H}.{ext}``, e.g.
``photos/cat.jpg`` -> ``photos/cat.jpg_200x200.jpg``. The whole source name is kept,
extension included, so ``a.png`` and ``a.jpg`` never share a thumbnail; the suffix
``_{W}x{H}.{ext}`` (no leading zeros) can be parsed back from the end, so two
different sources or sizes can never map to the same name. ``OUTPUT_NAME`` changes the
pattern; config.py refuses templates that would lose the source's folder, name or size.
"""

from __future__ import annotations

from thumbnailer import errors
from thumbnailer.config import OUTPUT_NAME, Size

#: Cloud Storage's limit on an object name, in UTF-8 bytes.
MAX_OBJECT_NAME_BYTES = 1024


def _checked(name: str) -> str:
    if len(name.encode("utf-8")) > MAX_OBJECT_NAME_BYTES:
        raise errors.OutputNameTooLong(
            f"the output name would be over Cloud Storage's {MAX_OBJECT_NAME_BYTES}-byte limit"
        )
    return name


DEFAULT_TEMPLATE: str = OUTPUT_NAME.default or ""


def thumbnail_name(
    source_name: str, size: Size, extension: str, prefix: str = "", template: str = DEFAULT_TEMPLATE
) -> str:
    """``OUTPUT_PREFIX`` + the ``OUTPUT_NAME`` template filled in for this source and size."""
    # {dir} is everything up to the last "/", that "/" included, even when nothing comes
    # before it: "/cat.jpg" and "cat.jpg" are two objects and must not share a thumbnail.
    folder, slash, name = source_name.rpartition("/")
    stem, dot, ext = name.rpartition(".")
    if not dot or not stem:  # "README" or ".profile": no extension to split off
        stem, ext = name, ""
    filled = template.format(
        dir=folder + slash,
        name=name,
        stem=stem,
        ext=ext,
        width=size.width,
        height=size.height,
        format=extension,
    )
    return _checked(f"{prefix}{filled}")


def failure_record_name(source_name: str, prefix: str) -> str:
    return _checked(f"{prefix}{source_name}.json")
