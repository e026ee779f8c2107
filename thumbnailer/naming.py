"""Names of the objects written to the output bucket.

By default a thumbnail is named ``{OUTPUT_PREFIX}{source name}_{W}x{H}.{ext}``, e.g.
``photos/cat.jpg`` -> ``photos/cat.jpg_200x200.jpg``. The whole source name is kept,
extension included, so ``a.png`` and ``a.jpg`` never share a thumbnail; the suffix
``_{W}x{H}.{ext}`` (no leading zeros) can be parsed back from the end, so two
different sources or sizes can never map to the same name. ``OUTPUT_NAME`` changes the
pattern; ``parse_name_template`` refuses templates that would lose the source's folder,
name or size.
"""

import contextlib
import itertools
import string
from collections.abc import Iterable

from thumbnailer import errors
from thumbnailer.domain import Size

#: Cloud Storage's limit on an object name, in UTF-8 bytes.
MAX_OBJECT_NAME_BYTES = 1024


def _checked(name: str) -> str:
    if len(name.encode("utf-8")) > MAX_OBJECT_NAME_BYTES:
        raise errors.OutputNameTooLong(
            f"the output name would be over Cloud Storage's {MAX_OBJECT_NAME_BYTES}-byte limit"
        )
    return name


#: OUTPUT_NAME's default: the whole source name, then the size and the format.
DEFAULT_TEMPLATE = "{dir}{name}_{width}x{height}.{format}"

#: The placeholders of OUTPUT_NAME. For ``photos/2026/cat.jpg`` at 200x200 as WebP:
#: dir ``photos/2026/``, name ``cat.jpg``, stem ``cat``, ext ``jpg``, width ``200``,
#: height ``200``, format ``webp`` (the thumbnail's extension).
NAME_PLACEHOLDERS = frozenset({"dir", "name", "stem", "ext", "width", "height", "format"})


def parse_name_template(text: str) -> str:
    """An OUTPUT_NAME template; refuses what would make two thumbnails share a name."""
    template = text.strip()
    try:
        parts = list(string.Formatter().parse(template))
    except ValueError as error:
        raise ValueError(f"{text!r}: {error}") from None
    fields = [field for _, field, _, _ in parts if field is not None]
    if any(spec or conversion for _, field, spec, conversion in parts if field is not None):
        raise ValueError(f"{text!r}: placeholders take no format spec or conversion (no {{width:04d}}, no !r)")
    # A placeholder's value must be recoverable from the name: the text between two
    # placeholders may not be empty, and next to a number it must hold a non-digit
    # ({name}1{width} makes a@12 and a1@2 the same).
    for (_, before, _, _), (literal, after, _, _) in itertools.pairwise(parts):
        if before is None or after is None or before == "dir":  # {dir} ends in its own "/"
            continue
        if not literal:
            raise ValueError(f"{text!r}: put a separator between {{{before}}} and {{{after}}}")
        if {before, after} & {"width", "height"} and literal.isdigit():
            raise ValueError(f"{text!r}: separate {{{before}}} and {{{after}}} with something other than digits")
    unknown = sorted(set(fields) - NAME_PLACEHOLDERS)
    if unknown:
        raise ValueError(f"{text!r}: unknown placeholder {{{unknown[0]}}}; use {sorted(NAME_PLACEHOLDERS)}")
    if "format" not in fields:
        raise ValueError(f"{text!r} needs {{format}}: a thumbnail's extension follows its format")
    if "name" not in fields and "{stem}.{ext}" not in template:
        raise ValueError(f"{text!r} needs {{name}}, or {{stem}}.{{ext}}: else cat.jpg and cat.png collide")
    if "dir" not in fields:
        raise ValueError(f"{text!r} needs {{dir}}: else a/cat.jpg and b/cat.jpg collide")
    if template.startswith("/"):
        raise ValueError(f"{text!r}: object names do not start with /")
    return template


def check_sizes_apart(template: str, sizes: tuple[Size, ...]) -> None:
    """Two sizes must never share a thumbnail name: the template must tell them apart."""
    fields = {field for _, field, _, _ in string.Formatter().parse(template) if field}
    keys = {(size.width if "width" in fields else None, size.height if "height" in fields else None) for size in sizes}
    if len(keys) != len(sizes):
        raise ValueError(f"{template!r} gives two of THUMBNAIL_SIZES the same name; add {{width}} and {{height}}")


def thumbnail_name(
    source_name: str, size: Size, extension: str, prefix: str = "", template: str = DEFAULT_TEMPLATE
) -> str:
    """``OUTPUT_PREFIX`` + the ``OUTPUT_NAME`` template filled in for this source and size."""
    filled = template.format(**_source_fields(source_name), width=size.width, height=size.height, format=extension)
    return _checked(f"{prefix}{filled}")


def thumbnail_names(
    source_name: str, size: Size, extensions: Iterable[str], prefix: str = "", template: str = DEFAULT_TEMPLATE
) -> list[str]:
    """``thumbnail_name`` for each extension, less the names over Cloud Storage's limit: where
    existing thumbnails are looked for, as a name that long was never written."""
    names = []
    for extension in extensions:
        with contextlib.suppress(errors.OutputNameTooLong):
            names.append(thumbnail_name(source_name, size, extension, prefix, template))
    return names


def _source_fields(source_name: str) -> dict[str, str]:
    # {dir} is everything up to the last "/", that "/" included, even when nothing comes
    # before it: "/cat.jpg" and "cat.jpg" are two objects and must not share a thumbnail.
    folder, slash, name = source_name.rpartition("/")
    stem, dot, ext = name.rpartition(".")
    if not dot or not stem:  # "README" or ".profile": no extension to split off
        stem, ext = name, ""
    return {"dir": folder + slash, "name": name, "stem": stem, "ext": ext}


def name_horizon(source_name: str, prefix: str = "", template: str = DEFAULT_TEMPLATE) -> str:
    """What every thumbnail name of ``source_name`` starts with, whatever its size and
    format: the template filled in up to its first size or format placeholder. Listing
    order puts all of them among the names that start with it (backfill's side-by-side
    walk); a template that begins with {width} has only the prefix in common."""
    fields = _source_fields(source_name)
    parts = [prefix]
    for literal, field, _, _ in string.Formatter().parse(template):
        parts.append(literal)
        if field is None:
            continue
        if field not in fields:
            break
        parts.append(fields[field])
    return "".join(parts)


def record_name(source_name: str, prefix: str) -> str:
    """A JSON record about an upload (its failure, its labels): ``PREFIX`` + its name + ``.json``."""
    return _checked(f"{prefix}{source_name}.json")
