"""The benchmark's pure helpers (bench/): PSNR, the cover crop, the reference, the target verdicts.

Small images only: the benchmark itself (`make bench`) is not run here.
"""

import io
import math

import pytest
from PIL import Image

from bench.corpus import BASELINE_JPEG, LIBVIPS_PARITY, exif_orientation
from bench.measure import Timings
from bench.quality import cover_box, psnr, reference
from bench.report import speed_metrics
from bench.targets import (
    NAIVE_OVER_PROJECT,
    PROJECT_MIB,
    PROJECT_OVER_FLOOR,
    PROJECT_OVER_LIBVIPS,
    Target,
    targets_for,
    verdict,
)


def test_psnr_of_identical_images_is_infinite() -> None:
    image = Image.new("RGB", (16, 8), (10, 200, 30))
    assert psnr(image, image.copy()) == math.inf


def test_psnr_of_a_known_difference() -> None:
    black = Image.new("RGB", (16, 8), (0, 0, 0))
    # Every sample off by 10: MSE 100.
    assert psnr(black, Image.new("RGB", (16, 8), (10, 10, 10))) == pytest.approx(10 * math.log10(255**2 / 100))
    # One channel of three off by 10: MSE 100 / 3.
    assert psnr(black, Image.new("RGB", (16, 8), (0, 10, 0))) == pytest.approx(10 * math.log10(255**2 * 3 / 100))


def test_psnr_refuses_images_of_different_sizes() -> None:
    with pytest.raises(ValueError, match="sizes differ"):
        psnr(Image.new("RGB", (2, 2)), Image.new("RGB", (2, 3)))


@pytest.mark.parametrize(
    ("size", "box"),
    [
        ((4000, 3000), (500, 0, 3500, 3000)),
        ((3000, 4000), (0, 500, 3000, 3500)),
        ((1155, 866), (144.5, 0, 1010.5, 866)),
        ((300, 300), (0, 0, 300, 300)),
    ],
)
def test_cover_box_is_the_largest_centred_square(size: tuple[int, int], box: tuple[float, ...]) -> None:
    assert cover_box(*size) == box


def test_reference_is_upright_flattened_and_cropped() -> None:
    # Upright: 400x300, blue, with a red strip at the left edge (cropped away), a red strip
    # just inside the centre square (left edge of the thumbnail only if turned upright)
    # and a transparent hole in the centre, which must come out white.
    upright = Image.new("RGBA", (400, 300), (0, 0, 255, 255))
    upright.paste((255, 0, 0, 255), (0, 0, 30, 300))
    upright.paste((255, 0, 0, 255), (60, 0, 100, 300))
    upright.paste((0, 0, 0, 0), (175, 125, 225, 175))
    buffer = io.BytesIO()
    upright.transpose(Image.Transpose.ROTATE_90).save(buffer, "PNG", exif=exif_orientation(6))  # stored sideways
    result = reference(buffer.getvalue())
    assert result.size == (200, 200)
    assert result.getpixel((100, 100)) == (255, 255, 255)
    assert result.getpixel((20, 100)) == (255, 0, 0)
    assert result.getpixel((1, 100)) == (0, 0, 255)
    assert result.getpixel((100, 190)) == (0, 0, 255)


def test_speed_targets_of_a_baseline_jpeg() -> None:
    targets = targets_for("speed", BASELINE_JPEG)
    assert {t.metric for t in targets} == {PROJECT_OVER_FLOOR, NAIVE_OVER_PROJECT, PROJECT_OVER_LIBVIPS}
    good = {PROJECT_OVER_FLOOR: 1.1, NAIVE_OVER_PROJECT: 8.0, PROJECT_OVER_LIBVIPS: 0.8}
    assert verdict(targets, good) == "PASS"
    slow = {**good, PROJECT_OVER_FLOOR: 1.3}
    assert verdict(targets, slow) == "FAIL (project/floor ≤ 1.15: 1.3)"
    assert verdict(targets, {**good, NAIVE_OVER_PROJECT: None}).startswith("FAIL (naive/project ≥ 6: no value")


def test_libvips_parity_and_untargeted_rows() -> None:
    assert [t.metric for t in targets_for("speed", LIBVIPS_PARITY)] == [PROJECT_OVER_LIBVIPS]
    assert verdict(targets_for("speed", LIBVIPS_PARITY), {PROJECT_OVER_LIBVIPS: 1.1}) == "PASS"  # the limit itself
    assert verdict(targets_for("speed", None), {}) == "—"
    # Memory holds every item to its target, whatever its speed group.
    assert verdict(targets_for("memory", None), {PROJECT_MIB: 97}).startswith("FAIL")


def test_target_direction() -> None:
    at_least = Target("quality", "*", "margin", -0.5, at_most=False)
    assert at_least.met(-0.5)
    assert at_least.met(0.3)
    assert not at_least.met(-0.6)


def test_speed_metrics_from_medians() -> None:
    timings = Timings({"project": 20.0, "naive": 200.0, "libvips": 25.0, "floor": 18.0}, {})
    assert speed_metrics(timings) == pytest.approx(
        {PROJECT_OVER_FLOOR: 20 / 18, NAIVE_OVER_PROJECT: 10.0, PROJECT_OVER_LIBVIPS: 0.8}
    )
    # No floor for a PNG; a candidate that failed leaves its ratios empty.
    failed = speed_metrics(Timings({"project": 20.0, "naive": 200.0}, {"libvips": "Error: boom"}))
    assert failed[PROJECT_OVER_FLOOR] is None
    assert failed[PROJECT_OVER_LIBVIPS] is None


def test_the_listing_source_pages_like_cloud_storage_for_the_real_command() -> None:
    from bench.listing import dry_run, listing_table

    run = dry_run(2_500, 0)
    assert run.summary.startswith("listed 2500 objects: 1250 already had thumbnails")
    assert run.pages == 3 + 2 + 1  # 2,500 uploads, 1,250 thumbnails (1,000 a page), no failure records
    assert "2,500" in "\n".join(listing_table([run, run]))
