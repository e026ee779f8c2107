"""``python -m thumbnailer``, run as users run it: a real process on real files."""

import json
import subprocess
import sys
from pathlib import Path

from PIL import Image

from tests.images import (
    encode,
    photo_like,
    tiff_with_a_dimensionless_page,
    tiff_with_a_tag_past_the_end,
    tiff_with_damaged_deflate_data,
)

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


def test_a_crafted_file_is_one_failure_line_not_a_traceback(tmp_path: Path) -> None:
    (tmp_path / "crafted.tif").write_bytes(tiff_with_a_dimensionless_page())
    result = run("thumbnail", "-o", str(tmp_path / "out"), str(tmp_path / "crafted.tif"))
    assert result.returncode == 1
    assert (
        result.stderr
        == f"{tmp_path / 'crafted.tif'}: corrupt_image: cannot decode the image: TypeError: Missing dimensions\n"
    )


def test_what_the_decoders_said_is_shown_only_when_asked(tmp_path: Path) -> None:
    (tmp_path / "odd.tif").write_bytes(tiff_with_a_tag_past_the_end())
    (tmp_path / "broken.tif").write_bytes(tiff_with_damaged_deflate_data())
    files = [str(tmp_path / "odd.tif"), str(tmp_path / "broken.tif")]
    quiet = run("thumbnail", "-o", str(tmp_path / "out"), *files)
    assert quiet.stderr.splitlines() == [
        f"{files[1]}: corrupt_image: cannot decode the image: OSError: decoder error -2"
    ]
    verbose = run("thumbnail", "--verbose", "-o", str(tmp_path / "out"), *files)
    lines = verbose.stderr.splitlines()
    assert any(line.startswith(f"{files[0]}: warning: ") for line in lines)
    assert any(line.startswith(f"{files[1]}: warning: libtiff: ZIPDecode") for line in lines)
    assert lines[-1] == quiet.stderr.splitlines()[-1]
    assert (quiet.returncode, verbose.returncode) == (1, 1)


def test_jobs_change_nothing_but_the_time(tmp_path: Path) -> None:
    """Output lines, failure lines and exit status are the same one at a time or eight at once."""
    files = []
    for index in range(8):
        path = tmp_path / f"photo{index}.jpg"
        path.write_bytes(encode(photo_like(900, 600, seed=index), "JPEG") if index % 3 else b"not an image")
        files.append(str(path))
    one, eight = (run("thumbnail", "--jobs", jobs, "-o", str(tmp_path / f"out{jobs}"), *files) for jobs in ("1", "8"))
    assert one.returncode == eight.returncode == 1
    assert one.stdout.replace("out1", "outN") == eight.stdout.replace("out8", "outN")
    assert one.stderr == eight.stderr
    assert len(eight.stdout.splitlines()) == 5
    assert sorted(p.name for p in (tmp_path / "out8").iterdir()) == sorted(
        p.name for p in (tmp_path / "out1").iterdir()
    )
    assert not [p for p in (tmp_path / "out8").iterdir() if p.name.startswith(".tmp-")]


def test_thumbnailing_imports_no_cloud_client_and_one_image_plugin(tmp_path: Path) -> None:
    (tmp_path / "photo.jpg").write_bytes(encode(photo_like(64, 48), "JPEG"))
    program = (
        "import json, runpy, sys\n"
        f"sys.argv = ['thumbnailer', 'thumbnail', '-o', {str(tmp_path)!r}, {str(tmp_path / 'photo.jpg')!r}]\n"
        "try:\n    runpy.run_module('thumbnailer', run_name='__main__')\nexcept SystemExit:\n    pass\n"
        "sys.stderr.write(json.dumps(sorted(sys.modules)))"
    )
    result = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, cwd=ROOT, timeout=60)
    imported = set(json.loads(result.stderr))
    # ("google" and "google.cloud" themselves are namespace packages a .pth file makes at start-up.)
    clients = ("google.cloud.", "google.api_core", "google.auth", "grpc", "requests", "urllib3", "pyvips")
    assert not {name for name in imported if name.startswith(clients)}
    assert {name for name in imported if name.endswith("ImagePlugin")} == {"PIL.JpegImagePlugin"}
    assert "dataclasses" not in imported  # it imports inspect: a tenth of this run
    assert "thumbhash" not in imported  # files carry no metadata: no placeholders to compute
