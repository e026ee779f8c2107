import itertools

import pytest

from thumbnailer import errors
from thumbnailer.config import Size
from thumbnailer.naming import failure_record_name, thumbnail_name


def test_thumbnail_name_keeps_the_whole_source_name() -> None:
    assert thumbnail_name("photos/cat.jpg", Size(200, 200), "jpg") == "photos/cat.jpg_200x200.jpg"
    assert thumbnail_name("cat.jpg", Size(64, 48), "webp", "thumbs/") == "thumbs/cat.jpg_64x48.webp"


def test_names_never_collide() -> None:
    sources = ["a.png", "a.jpg", "a", "a_200x200.jpg", "a.jpg_200x200", "a_2", "a_20", "dir/a.jpg", "dir/a"]
    sizes = [Size(200, 200), Size(20, 200), Size(2, 200), Size(200, 20), Size(64, 64)]
    extensions = ["jpg", "png", "webp"]
    names = [
        thumbnail_name(source, size, extension)
        for source, size, extension in itertools.product(sources, sizes, extensions)
    ]
    assert len(set(names)) == len(names)
    records = {failure_record_name(source, "") for source in sources}
    assert not records & set(names)


def test_too_long_output_name_is_a_permanent_error() -> None:
    with pytest.raises(errors.OutputNameTooLong):
        thumbnail_name("é" * 510, Size(200, 200), "jpg")
