"""``python -m thumbnailer``, run as users run it: a real process on real files."""

import subprocess
import sys
from pathlib import Path

from PIL import Image

from tests.images import encode, photo_like

ROOT = Path(__file__).resolve().parents[2]


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "thumbnailer", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={"PATH": "/usr/bin:/bin", **(env or {})},
        timeout=60,
    )


def test_thumbnails_local_files(tmp_path: Path) -> None:
    (tmp_path / "photo.jpg").write_bytes(encode(photo_like(1600, 1200), "JPEG"))
    (tmp_path / "logo.png").write_bytes(encode(Image.new("RGBA", (300, 300), (0, 0, 0, 0)), "PNG"))
    result = run(
        "thumbnail", "--size", "200x200", "--size", "64x32", "--mode", "contain",
        "-o", str(tmp_path / "out"), str(tmp_path / "photo.jpg"), str(tmp_path / "logo.png"),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    names = sorted(path.name for path in (tmp_path / "out").iterdir())
    assert names == ["logo.png_200x200.webp", "logo.png_64x32.webp", "photo.jpg_200x200.jpg", "photo.jpg_64x32.jpg"]
    assert Image.open(tmp_path / "out" / "photo.jpg_200x200.jpg").size == (200, 150)
    assert Image.open(tmp_path / "out" / "photo.jpg_64x32.jpg").size == (43, 32)
    assert len(result.stdout.splitlines()) == 4


def test_settings_come_from_the_environment_like_the_function(tmp_path: Path) -> None:
    (tmp_path / "photo.jpg").write_bytes(encode(photo_like(400, 300), "JPEG"))
    result = run(
        "thumbnail", "-o", str(tmp_path), str(tmp_path / "photo.jpg"),
        env={"THUMBNAIL_SIZES": "100x100", "THUMBNAIL_FORMAT": "png"},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert Image.open(tmp_path / "photo.jpg_100x100.png").size == (100, 100)


def test_each_failed_file_gets_one_line_and_a_non_zero_exit(tmp_path: Path) -> None:
    (tmp_path / "good.jpg").write_bytes(encode(photo_like(400, 300), "JPEG"))
    (tmp_path / "text.jpg").write_text("not an image")
    (tmp_path / "empty.png").write_bytes(b"")
    result = run(
        "thumbnail", "-o", str(tmp_path / "out"),
        str(tmp_path / "good.jpg"), str(tmp_path / "text.jpg"), str(tmp_path / "empty.png"), str(tmp_path / "nope.jpg"),
    )  # fmt: skip
    assert result.returncode == 1
    lines = result.stderr.splitlines()
    assert [line.split(": ")[1] for line in lines] == ["not_an_image", "empty_object", "unreadable"]
    assert (tmp_path / "out" / "good.jpg_200x200.jpg").exists()


def test_bad_settings_exit_2_naming_them(tmp_path: Path) -> None:
    result = run("thumbnail", "-o", str(tmp_path), "x.jpg", env={"THUMBNAIL_MODE": "squash"})
    assert result.returncode == 2
    assert result.stderr.startswith("error: THUMBNAIL_MODE:")
    assert run("thumbnail", "--size", "big", "-o", str(tmp_path), "x.jpg").returncode == 2
