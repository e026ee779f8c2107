import itertools

import pytest

from thumbnailer import errors
from thumbnailer.config import Settings
from thumbnailer.declaring import ConfigError
from thumbnailer.domain import Size
from thumbnailer.naming import MAX_OBJECT_NAME_BYTES, record_name, thumbnail_name, thumbnail_names


def test_thumbnail_name_keeps_the_whole_source_name() -> None:
    assert thumbnail_name("photos/cat.jpg", Size(200, 200), "jpg") == "photos/cat.jpg_200x200.jpg"
    assert thumbnail_name("cat.jpg", Size(64, 48), "webp", "thumbs/") == "thumbs/cat.jpg_64x48.webp"


def test_names_never_collide() -> None:
    sources = ["a.png", "a.jpg", "a", "a_200x200.jpg", "a.jpg_200x200", "a_2", "a_20", "dir/a.jpg", "dir/a"]
    sources += ["/a.jpg", "//a.jpg", "dir//a.jpg", "/dir/a.jpg"]  # a leading or doubled "/" is part of the name
    sizes = [Size(200, 200), Size(20, 200), Size(2, 200), Size(200, 20), Size(64, 64)]
    extensions = ["jpg", "png", "webp"]
    names = [
        thumbnail_name(source, size, extension)
        for source, size, extension in itertools.product(sources, sizes, extensions)
    ]
    assert len(set(names)) == len(names)
    records = {record_name(source, "") for source in sources}
    assert not records & set(names)


@pytest.mark.parametrize(
    "template", ["{dir}{name}_{width}x{height}.{format}", "{dir}{stem}-{width}x{height}.{ext}.{format}"]
)
def test_a_leading_slash_is_kept(template: str) -> None:
    assert thumbnail_name("/cat.jpg", Size(200, 200), "jpg", template=template).startswith("/cat")
    assert thumbnail_name("/cat.jpg", Size(200, 200), "jpg", template=template) != thumbnail_name(
        "cat.jpg", Size(200, 200), "jpg", template=template
    )


def test_too_long_output_name_is_a_permanent_error() -> None:
    with pytest.raises(errors.OutputNameTooLong):
        thumbnail_name("é" * 510, Size(200, 200), "jpg")


def test_where_thumbnails_are_looked_for_a_name_over_the_limit_is_left_out() -> None:
    # "_200x200.jpg" is 12 bytes: this name's .jpg thumbnail is exactly at the limit, its .webp one over.
    source = "a" * (MAX_OBJECT_NAME_BYTES - 12)
    assert thumbnail_names(source, Size(200, 200), ["jpg", "webp"]) == [f"{source}_200x200.jpg"]
    assert thumbnail_names("cat.jpg", Size(64, 48), ["jpg", "webp"], "t/") == [
        "t/cat.jpg_64x48.jpg",
        "t/cat.jpg_64x48.webp",
    ]


@pytest.mark.parametrize(
    ("template", "source", "expected"),
    [
        ("{dir}{stem}-{width}x{height}.{ext}.{format}", "photos/2026/cat.jpg", "photos/2026/cat-200x100.jpg.webp"),
        ("{dir}thumbs/{name}/{width}.{format}", "photos/cat.jpg", "photos/thumbs/cat.jpg/200.webp"),
        ("{dir}{stem}_{height}.{ext}.{format}", "README", "README_100..webp"),  # no extension: ext is empty
        ("{dir}{stem}.{ext}_w{width}.{format}", "a.b.png", "a.b.png_w200.webp"),
    ],
)
def test_output_name_templates(template: str, source: str, expected: str) -> None:
    assert thumbnail_name(source, Size(200, 100), "webp", template=template) == expected


@pytest.mark.parametrize(
    ("template", "message"),
    [
        ("{dir}{stem}.{format}", r"needs \{name\}, or \{stem\}.\{ext\}"),
        ("{dir}{stem}-{ext}_{width}x{height}.{format}", r"needs \{name\}, or \{stem\}.\{ext\}"),
        ("{dir}{name}{width}x{height}.{format}", r"separator between \{name\} and \{width\}"),
        ("{dir}{name}_{width}1{height}.{format}", "other than digits"),
        ("{dir}{name:.4}_{width}x{height}.{format}", "no format spec"),
        ("{dir}{name!r}_{width}x{height}.{format}", "no format spec"),
        ("{name}_{width}x{height}.{format}", r"needs \{dir\}"),
        ("{dir}{name}_{width}x{height}", r"needs \{format\}"),
        ("{dir}{name}_{size}.{format}", r"unknown placeholder \{size\}"),
        ("{dir}{name}_{width.{format}", "OUTPUT_NAME"),
    ],
)
def test_templates_that_would_collide_are_refused_at_start(template: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        Settings.from_environ({"OUTPUT_BUCKET": "thumbs", "OUTPUT_NAME": template})


def test_a_template_must_tell_the_sizes_apart() -> None:
    environ = {"OUTPUT_BUCKET": "thumbs", "OUTPUT_NAME": "{dir}{name}_{width}.{format}"}
    assert Settings.from_environ({**environ, "THUMBNAIL_SIZES": "200x200,64x64"}).output_name  # widths differ
    with pytest.raises(ConfigError, match="same name"):
        Settings.from_environ({**environ, "THUMBNAIL_SIZES": "200x200,200x100"})
