"""Pure geometry: where to crop, what size to resize to, what canvas to pad onto.

Nothing here touches pixels, so every rule (no upscaling, centre crop, extreme
aspect ratios) is unit-tested with plain numbers.
"""

from typing import NamedTuple

from thumbnailer.domain import FitMode, Size

Box = tuple[float, float, float, float]


class Plan(NamedTuple):
    """Resize the ``box`` region of the source to ``size``, then centre it on ``canvas``.

    ``box`` and ``size`` are in the source's stored orientation; ``canvas`` as displayed.
    """

    box: Box
    size: tuple[int, int]
    canvas: tuple[int, int]

    def transposed(self) -> "Plan":
        """The plan for the source as stored with its axes swapped (EXIF orientations 5-8).

        Every box is centred, so swapping the axes is all it takes. The canvas stays
        as displayed: padding happens after the thumbnail is turned upright.
        """
        left, top, right, bottom = self.box
        return Plan(box=(top, left, bottom, right), size=(self.size[1], self.size[0]), canvas=self.canvas)

    def scaled_source(self, width: int, height: int, scaled_width: int, scaled_height: int) -> "Plan":
        """The same plan for a ``width`` x ``height`` source decoded at a reduced scale (JPEG ``draft``)."""
        fx, fy = scaled_width / width, scaled_height / height
        left, top, right, bottom = self.box
        box = _clamped((left * fx, top * fy, right * fx, bottom * fy), scaled_width, scaled_height)
        return Plan(box=box, size=self.size, canvas=self.canvas)

    def moved_to(self, left: float, top: float, width: int, height: int) -> "Plan":
        """The same crop with its top-left corner at (``left``, ``top``), kept inside the image."""
        box_w, box_h = self.box_size
        left = min(max(0.0, left), width - box_w)
        top = min(max(0.0, top), height - box_h)
        return self._replace(box=_clamped((left, top, left + box_w, top + box_h), width, height))

    @property
    def box_size(self) -> tuple[float, float]:
        left, top, right, bottom = self.box
        return right - left, bottom - top


def _side(length: float, limit: int) -> int:
    return max(1, min(limit, round(length)))


def _clamped(box: Box, width: int, height: int) -> Box:
    """Keep a box inside the image: float arithmetic may put an edge a hair past it, which Pillow refuses."""
    left, top, right, bottom = box
    return (max(0.0, left), max(0.0, top), min(float(width), right), min(float(height), bottom))


def _centred_box(width: int, height: int, crop_width: float, crop_height: float) -> Box:
    left = (width - crop_width) / 2
    top = (height - crop_height) / 2
    return _clamped((left, top, left + crop_width, top + crop_height), width, height)


def plan_thumbnail(width: int, height: int, target: Size, mode: FitMode) -> Plan:
    """Plan one thumbnail of a ``width`` x ``height`` source; never enlarges the source."""
    if width < 1 or height < 1:
        raise ValueError(f"empty source {width}x{height}")
    tw, th = target.width, target.height
    full: Box = (0.0, 0.0, float(width), float(height))
    if mode in (FitMode.COVER, FitMode.ATTENTION):  # attention moves the box later (imaging.py)
        # The largest centred region with the box's aspect ratio, scaled down to the box.
        aspect = tw / th
        crop_w = min(float(width), height * aspect)
        crop_h = min(float(height), crop_w / aspect)  # the division may round past the edge
        scale = min(1.0, tw / crop_w)
        size = (_side(crop_w * scale, tw), _side(crop_h * scale, th))
        return Plan(_centred_box(width, height, crop_w, crop_h), size, size)
    if mode is FitMode.STRETCH:
        size = (_side(width * min(1.0, tw / width), tw), _side(height * min(1.0, th / height), th))
        return Plan(full, size, size)
    scale = min(1.0, tw / width, th / height)
    size = (_side(width * scale, tw), _side(height * scale, th))
    canvas = (tw, th) if mode is FitMode.PAD else size
    return Plan(full, size, canvas)


#: How much larger than the output a shrunk decode must stay, so the final Lanczos
#: resample still does real work: decoding straight to the output size loses about
#: 1 dB of PSNR. 1.75 rather than 2 lets a 12 MP JPEG use 1/8 DCT scaling for a
#: 200x200 crop (1.875x): 27% faster, 0.1 dB lower (bench/RESULTS.md).
HEADROOM = 1.75


def shrunk_decode_size(
    width: int, height: int, plans: list[Plan], headroom: float = HEADROOM
) -> tuple[int, int] | None:
    """The smallest decode size that keeps ``headroom`` x the output resolution for every plan.

    Returns None when the full resolution is needed.
    """
    factor = 0.0
    for plan in plans:
        box_w, box_h = plan.box_size
        factor = max(factor, headroom * plan.size[0] / box_w, headroom * plan.size[1] / box_h)
    if factor >= 1.0:
        return None
    return (max(1, int(width * factor + 0.999)), max(1, int(height * factor + 0.999)))
