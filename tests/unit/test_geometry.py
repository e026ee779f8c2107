import pytest

from thumbnailer.domain import FitMode, Size
from thumbnailer.geometry import HEADROOM, Plan, plan_thumbnail, shrunk_decode_size

BOX = Size(200, 200)


@pytest.mark.parametrize(
    ("source", "mode", "box", "size", "canvas"),
    [
        # cover: exact size, centre crop of the longer side
        ((4000, 3000), FitMode.COVER, (500, 0, 3500, 3000), (200, 200), (200, 200)),
        ((3000, 4000), FitMode.COVER, (0, 500, 3000, 3500), (200, 200), (200, 200)),
        # cover, smaller than the box: crop to the box's aspect, no upscaling
        ((100, 50), FitMode.COVER, (25, 0, 75, 50), (50, 50), (50, 50)),
        ((10000, 10), FitMode.COVER, (4995, 0, 5005, 10), (10, 10), (10, 10)),
        ((300, 150), FitMode.COVER, (75, 0, 225, 150), (150, 150), (150, 150)),
        # contain: fit inside, keep the aspect ratio
        ((4000, 3000), FitMode.CONTAIN, (0, 0, 4000, 3000), (200, 150), (200, 150)),
        ((10000, 10), FitMode.CONTAIN, (0, 0, 10000, 10), (200, 1), (200, 1)),
        ((10, 10000), FitMode.CONTAIN, (0, 0, 10, 10000), (1, 200), (1, 200)),
        ((120, 80), FitMode.CONTAIN, (0, 0, 120, 80), (120, 80), (120, 80)),
        # pad: contain, then a canvas of exactly the box
        ((4000, 3000), FitMode.PAD, (0, 0, 4000, 3000), (200, 150), (200, 200)),
        ((50, 40), FitMode.PAD, (0, 0, 50, 40), (50, 40), (200, 200)),
        # stretch: each axis on its own, never enlarged
        ((4000, 3000), FitMode.STRETCH, (0, 0, 4000, 3000), (200, 200), (200, 200)),
        ((100, 1000), FitMode.STRETCH, (0, 0, 100, 1000), (100, 200), (100, 200)),
        ((1, 1), FitMode.COVER, (0, 0, 1, 1), (1, 1), (1, 1)),
    ],
)
def test_plan(
    source: tuple[int, int],
    mode: FitMode,
    box: tuple[float, ...],
    size: tuple[int, int],
    canvas: tuple[int, int],
) -> None:
    plan = plan_thumbnail(*source, BOX, mode)
    assert plan.box == pytest.approx(box)
    assert plan.size == size
    assert plan.canvas == canvas


def test_cover_keeps_aspect_of_the_box_for_non_square_boxes() -> None:
    plan = plan_thumbnail(4000, 3000, Size(300, 100), FitMode.COVER)
    width, height = plan.box_size
    assert width / height == pytest.approx(3.0)
    assert plan.size == (300, 100)


def test_transposed_swaps_axes() -> None:
    plan = Plan(box=(500, 0, 3500, 3000), size=(200, 100), canvas=(200, 120))
    assert plan.transposed() == Plan(box=(0, 500, 3000, 3500), size=(100, 200), canvas=(200, 120))


def test_shrunk_decode_keeps_headroom_over_the_output_resolution() -> None:
    plans = [plan_thumbnail(4000, 3000, BOX, FitMode.COVER)]
    width, height = shrunk_decode_size(4000, 3000, plans) or (0, 0)
    # the 3000x3000 crop must still be at least HEADROOM x 200 pixels after the shrunk decode
    assert height >= HEADROOM * 200
    assert width * 3000 / 4000 >= HEADROOM * 200
    assert (width, height) == (467, 350)  # so 1/8 DCT scaling (500x375) qualifies


def test_shrunk_decode_serves_the_largest_size() -> None:
    plans = [plan_thumbnail(4000, 3000, size, FitMode.COVER) for size in (Size(64, 64), Size(1000, 1000))]
    assert shrunk_decode_size(4000, 3000, plans) == (2334, 1750)


def test_no_shrinking_when_full_resolution_is_needed() -> None:
    assert shrunk_decode_size(300, 300, [plan_thumbnail(300, 300, BOX, FitMode.COVER)]) is None
