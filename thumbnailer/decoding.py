"""Everything that reads an upload's bytes, inside one boundary.

An upload is untrusted, and a decoder may raise anything on a crafted or damaged file:
``TypeError`` from a TIFF page without dimensions, ``IndexError`` from a cut GIF,
``struct.error``, ``SyntaxError``, ``OSError``. So every step that touches the bytes
(identifying, opening, the pixel limit, EXIF and orientation, the ICC profile, counting
and seeking frames, decoding pixels, converting modes) runs inside ``_decoding()``,
which makes an exception of any type the input's fault: ``corrupt_image``, naming the
exception's type. Only ``MemoryError`` is not (the instance ran out, not the file).

What leaves this module is decoded pixels in a working mode, with what is needed to
show them right (orientation, a colour transform built from the file's ICC profile).
Resizing, turning, colour conversion and encoding (imaging.py) touch only those, so an
exception there is a bug and surfaces as one.

Two decoders stand behind one interface, ``Source``: Pillow for every format, with
libvips decoding PNG and WebP pixels (shrinking as it goes, see libvips.py); and libvips
alone for the AVIF and TIFF files that Pillow refuses (libavif's strict box parsing,
CMYK with alpha), which libvips reads through libheif and libtiff.
"""

import contextlib
import importlib
import io
from collections.abc import Iterator
from functools import cache
from typing import TYPE_CHECKING, NamedTuple, Protocol

from PIL import Image

from thumbnailer import diagnostics, errors
from thumbnailer.config import ImagingSettings

if TYPE_CHECKING:
    from PIL import ImageCms

#: Formats accepted as input, identified by content. Pillow is told to try only these,
#: so no other decoder (EPS, PSD, ...) ever sees untrusted bytes.
INPUT_FORMATS: tuple[str, ...] = ("JPEG", "PNG", "WEBP", "GIF", "BMP", "TIFF", "AVIF", "HEIF")
#: Source formats whose pixels libvips decodes, shrinking as it goes; Pillow decodes the
#: rest. Chosen by measurement (bench/RESULTS.md): libvips is faster and far leaner for
#: PNG and WebP; Pillow wins for JPEG (DCT scaling) and AVIF (its decoder is the faster).
LIBVIPS_FORMATS: frozenset[str] = frozenset({"PNG", "WEBP"})
#: Formats libvips reads whole where Pillow refuses a file.
LIBVIPS_FALLBACK: frozenset[str] = frozenset({"AVIF", "TIFF"})

# HEIC/HEIF (phone cameras) is read by pillow-heif, whose import costs 50 ms: it is loaded
# when a file's ISO-BMFF "ftyp" box names an HEIF brand, not at cold start.
_HEIF_BRANDS = frozenset({b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"hevm", b"hevs", b"mif1", b"msf1"})
_AVIF_BRANDS = frozenset({b"avif", b"avis"})
# Little- and big-endian TIFF and BigTIFF, and the byte-swapped headers Pillow also reads.
_TIFF_MAGIC = (b"II*\0", b"MM\0*", b"II+\0", b"MM\0+", b"MM*\0", b"II\0*")
# Files that are images, but in no supported format: named in the answer, so a user
# knows what they sent (judged by their first bytes, as everything here).
_OTHER_FORMATS: tuple[tuple[bytes, str], ...] = (
    (b"\xff\x0a", "a JPEG XL image"),
    (b"\0\0\0\x0cJXL \r\n\x87\n", "a JPEG XL image"),
    (b"\0\0\0\x0cjP  \r\n\x87\n", "a JPEG 2000 image"),
    (b"\xff\x4f\xff\x51", "a JPEG 2000 codestream"),
    (b"8BPS", "a Photoshop document"),
    (b"%PDF", "a PDF document"),
    (b"%!PS", "a PostScript document"),
    (b"\xc5\xd0\xd3\xc6", "an EPS document"),
    (b"\0\0\1\0", "an icon (ICO)"),
    (b"qoif", "a QOI image"),
    (b"v/1\x01", "an OpenEXR image"),
)

# EXIF orientation; Artist and Copyright.
_EXIF_ORIENTATION = 0x0112
_CREDIT_TAGS = (0x013B, 0x8298)
# Which ICC colour spaces can describe which working modes.
_PROFILE_SPACES = {"RGB": "RGB ", "RGBA": "RGB ", "L": "GRAY", "CMYK": "CMYK"}

# Our own pixel limit (MAX_INPUT_PIXELS) is the check; Pillow's warning below its hard
# limit would only be noise. Pillow's error above it stays, as a backstop.
diagnostics.ignore_warning(Image.DecompressionBombWarning)


class Pixels(NamedTuple):
    """Decoded pixels in a working mode (L, RGB, RGBA, CMYK or I for 16-bit), and the
    transform that takes them to sRGB (None: they are sRGB, or their profile is unusable)."""

    image: Image.Image
    colour: "ImageCms.ImageCmsTransform | None"


class Source(Protocol):
    """An opened upload. ``size`` is as stored; ``orientation`` is the EXIF orientation
    still to apply (1 when the decoder applied it, as libheif does)."""

    format: str
    size: tuple[int, int]
    orientation: int
    frame_count: int
    loop: int | None

    def credits(self) -> bytes | None:
        """The EXIF Artist and Copyright, re-encoded; never GPS, the camera or dates."""
        ...

    def pixels(self, request: tuple[int, int] | None) -> Pixels:
        """The first frame, shrunk while decoding to at least ``request`` where the decoder
        can (None: full size)."""
        ...

    def frames(self) -> Iterator[tuple[Image.Image, int]]:
        """Every frame as RGBA, with its duration in milliseconds."""
        ...

    def close(self) -> None: ...


@contextlib.contextmanager
def _decoding() -> Iterator[None]:
    """The boundary: whatever a decoder raises on bad data is the input's fault."""
    try:
        yield
    except errors.ThumbnailerError:
        raise
    except Image.DecompressionBombError as error:
        raise errors.TooManyPixels(str(error)) from None
    except MemoryError:
        raise errors.OutOfMemory("out of memory while decoding") from None
    except Exception as error:
        raise errors.CorruptImage(f"cannot decode the image: {_described(error)}") from None


def _described(error: BaseException) -> str:
    text = str(error).strip()
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


def sniff(data: bytes) -> str | None:
    """The supported format ``data`` claims by its first bytes, or None."""
    if data[:3] == b"\xff\xd8\xff":
        return "JPEG"
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        return "PNG"
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return "GIF"
    if data[:2] == b"BM":
        return "BMP"
    if data[:4] in _TIFF_MAGIC:
        return "TIFF"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "WEBP"
    if data[4:8] == b"ftyp":
        # The major brand, then the compatible brands, up to the end of the ftyp box.
        end = min(len(data), max(16, int.from_bytes(data[:4], "big")), 256)
        brands = {data[8:12]} | {data[offset : offset + 4] for offset in range(16, end - 3, 4)}
        if brands & _AVIF_BRANDS:
            return "AVIF"
        if brands & _HEIF_BRANDS:
            return "HEIF"
    return None


@contextlib.contextmanager
def opened(
    data: bytes, settings: ImagingSettings, libvips_formats: frozenset[str] = LIBVIPS_FORMATS
) -> Iterator[Source]:
    """``data`` identified by content and opened, the pixel limit checked before any pixel
    is decoded. ``libvips_formats`` picks libvips for a format's pixels; AVIF or TIFF in it
    means libvips reads those files whole (the fallback's own path, for tests and the bench)."""
    source = _open(data, settings, libvips_formats)
    try:
        yield source
    finally:
        source.close()


def _open(data: bytes, settings: ImagingSettings, libvips_formats: frozenset[str]) -> Source:
    claimed = sniff(data)
    with _decoding():
        source: Source
        if claimed in LIBVIPS_FALLBACK and claimed in libvips_formats:
            source = LibvipsSource(data, claimed)
        else:
            source = _open_with_pillow(data, claimed, libvips_formats)
    width, height = source.size
    if width * height > settings.max_input_pixels:
        source.close()
        raise errors.TooManyPixels(
            f"{width}x{height} is {width * height} pixels, over the {settings.max_input_pixels}-pixel limit "
            "(MAX_INPUT_PIXELS)"
        )
    return source


# The Pillow plugin of each format: imported for the format that arrives only (Image.open
# would import five plugins first, then try them in turn; a command-line run on one small
# JPEG would spend more time importing than thumbnailing).
_PLUGINS = {
    "JPEG": "PIL.JpegImagePlugin",
    "PNG": "PIL.PngImagePlugin",
    "GIF": "PIL.GifImagePlugin",
    "BMP": "PIL.BmpImagePlugin",
    "TIFF": "PIL.TiffImagePlugin",
    "WEBP": "PIL.WebPImagePlugin",
    "AVIF": "PIL.AvifImagePlugin",
}


def _open_with_pillow(data: bytes, claimed: str | None, libvips_formats: frozenset[str]) -> Source:
    if claimed is None:
        raise _not_an_image(data)
    if claimed == "HEIF":
        import pillow_heif

        # pillow-heif applies the container's rotation and mirroring and resets the EXIF
        # orientation to 1, so the pixels it gives are upright already.
        pillow_heif.register_heif_opener()
    else:
        importlib.import_module(_PLUGINS[claimed])  # registers the format's opener
    if claimed == "TIFF":
        diagnostics.capture_libtiff()
    factory, _ = Image.OPEN[claimed]
    try:
        image = factory(io.BytesIO(data), "")
    except Exception as error:
        refusal = _refusal(data, claimed, error)
        if claimed in LIBVIPS_FALLBACK:
            try:
                return LibvipsSource(data, claimed)
            except Exception as fallback_error:
                raise type(refusal)(f"{refusal}; libvips: {_described(fallback_error)}") from None
        raise refusal from None
    return PillowSource(image, data, libvips_formats)


def _not_an_image(data: bytes) -> errors.NotAnImage:
    supported = ", ".join(INPUT_FORMATS)
    for magic, what in _OTHER_FORMATS:
        if data.startswith(magic):
            return errors.NotAnImage(f"{what}, not a supported format ({supported})")
    if data.lstrip()[:5] in (b"<?xml", b"<svg ", b"<svg>") and b"<svg" in data[:4096]:
        return errors.NotAnImage(f"an SVG document, not a supported format ({supported}); SVG is never rendered")
    return errors.NotAnImage(f"not an image in a supported format ({supported}), judged by its content")


def _refusal(data: bytes, claimed: str, error: Exception) -> errors.PermanentError:
    """Why Pillow refused a file of a supported format: an unsupported variant, or damage."""
    variant = _jpeg_variant(data) if claimed == "JPEG" else None
    if variant:
        return errors.UnsupportedVariant(f"{variant}: only 8-bit baseline, progressive and arithmetic JPEGs are read")
    said = _described(error)
    if claimed == "HEIF" and str(error).startswith("Unsupported"):
        return errors.UnsupportedVariant(f"a HEIF file with no image that can be decoded: {said}")
    return errors.CorruptImage(f"a {claimed} file that cannot be read: {said}")


# The frame headers (SOFn markers) of the JPEG processes a file may use that libjpeg may not read.
_JPEG_PROCESSES = {
    0xC3: "a lossless JPEG",
    0xCB: "a lossless JPEG",
    0xC5: "a hierarchical JPEG",
    0xC6: "a hierarchical JPEG",
    0xCD: "a hierarchical JPEG",
    0xCE: "a hierarchical JPEG",
    0xC7: "a hierarchical lossless JPEG",
    0xCF: "a hierarchical lossless JPEG",
}


def _jpeg_variant(data: bytes) -> str | None:
    """What kind of JPEG Pillow cannot read, from its frame header (SOFn), if that is why."""
    offset = 2
    while offset + 9 < len(data) and data[offset] == 0xFF:
        marker = data[offset + 1]
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            precision = data[offset + 4]
            if marker in _JPEG_PROCESSES:
                return f"{_JPEG_PROCESSES[marker]} ({precision}-bit)"
            return f"a {precision}-bit JPEG" if precision != 8 else None
        offset += 2 + int.from_bytes(data[offset + 2 : offset + 4], "big")
    return None


class PillowSource:
    """A file Pillow has opened (its header read, nothing decoded)."""

    def __init__(self, image: Image.Image, data: bytes, libvips_formats: frozenset[str]) -> None:
        self._image = image
        self._data = data
        self._libvips = str(image.format) in libvips_formats
        self.format = str(image.format)
        self.size = image.size
        self._exif = _read_exif(image)
        # Pillow turns TIFFs upright on load already (and reports the upright size).
        self.orientation = 1 if self.format == "TIFF" else _read_orientation(self._exif)
        self.frame_count = int(getattr(image, "n_frames", 1))
        loop = image.info.get("loop")
        self.loop = loop if isinstance(loop, int) else None

    def credits(self) -> bytes | None:
        with _decoding():
            return _credits(self._exif)

    def pixels(self, request: tuple[int, int] | None) -> Pixels:
        with _decoding():
            image, icc_profile = self._image, self._image.info.get("icc_profile")
            if self._libvips and (request is not None or self._keyed_16_bit()):
                from thumbnailer import libvips  # loads libvips: only when such a file arrives

                image, icc_profile = libvips.decode_shrunk(self._data, *(request or self.size))
            elif request is not None and self.format in ("JPEG", "MPO"):
                image.draft(image.mode, request)  # the smallest DCT scale at least this big
            working = _to_working_mode(image)
            return Pixels(working, _colour_transform(icc_profile, working.mode))

    def _keyed_16_bit(self) -> bool:
        """A PNG with 16-bit samples and a tRNS colour key: Pillow reads the samples as 8-bit,
        which blurs the key, so libvips decodes it even where no shrinking is needed."""
        return self.format == "PNG" and self._data[24:25] == b"\x10" and "transparency" in self._image.info

    def frames(self) -> Iterator[tuple[Image.Image, int]]:
        for index in range(self.frame_count):
            with _decoding():
                self._image.seek(index)
                rgba = self._image.convert("RGBA")
                duration = int(self._image.info.get("duration", 100))  # WebP sets it once decoded
            yield rgba, duration

    def close(self) -> None:
        self._image.close()


class LibvipsSource:
    """A file libvips reads whole: AVIF through libheif (which applies the container's
    rotation and mirroring), TIFF through libtiff."""

    def __init__(self, data: bytes, claimed: str) -> None:
        from thumbnailer import libvips

        self._data = data
        header = libvips.read_header(data)
        self.format = claimed
        self.size = (header.width, header.height)
        self.orientation = header.orientation if claimed == "TIFF" else 1
        self.frame_count = 1
        self.loop: int | None = None
        self._exif = header.exif

    def credits(self) -> bytes | None:
        with _decoding():
            exif = Image.Exif()
            if self._exif:
                exif.load(self._exif)
            return _credits(exif)

    def pixels(self, request: tuple[int, int] | None) -> Pixels:
        from thumbnailer import libvips

        with _decoding():
            image, icc_profile = libvips.decode_shrunk(self._data, *(request or self.size))
            working = _to_working_mode(image)
            return Pixels(working, _colour_transform(icc_profile, working.mode))

    def frames(self) -> Iterator[tuple[Image.Image, int]]:
        with _decoding():
            rgba = self.pixels(None).image.convert("RGBA")
        yield rgba, 100

    def close(self) -> None:
        self._data = b""


def _read_exif(image: Image.Image) -> Image.Exif:
    """The source's EXIF, or an empty one: corrupt EXIF must not cost the thumbnail."""
    try:
        if image.format == "PNG":
            # Pillow's PNG getexif() decodes every pixel to look for an eXIf chunk after
            # them; only one before the pixels counts here (as in browsers), which is free.
            exif = Image.Exif()
            exif.load(image.info.get("exif", b""))
            return exif
        return image.getexif()
    except Exception as error:
        diagnostics.note(f"ignored unreadable EXIF: {_described(error)}")
        return Image.Exif()


def _read_orientation(exif: Image.Exif) -> int:
    try:
        value = exif.get(_EXIF_ORIENTATION, 1)
    except Exception:  # show the image as stored
        return 1
    return value if isinstance(value, int) and 1 <= value <= 8 else 1


def _credits(exif: Image.Exif) -> bytes | None:
    kept = Image.Exif()
    for tag in _CREDIT_TAGS:
        try:
            value = exif.get(tag)
        except Exception:
            continue
        if isinstance(value, str) and value.strip():
            kept[tag] = value
    return kept.tobytes() if len(kept) else None


def _to_working_mode(image: Image.Image) -> Image.Image:
    """Decode and bring any mode to one Lanczos can resample: L, RGB, RGBA, CMYK or I (16-bit)."""
    mode = image.mode
    key = image.info.get("transparency")
    if mode.startswith("I") and isinstance(key, int):
        return _keyed_16_bit_grey(image, key)
    if mode == "RGB" and isinstance(key, tuple) and max(key, default=0) > 255:
        # A 16-bit colour key on samples Pillow has read as their high bytes.
        image.info["transparency"] = tuple(value >> 8 for value in key)
        return image.convert("RGBA")
    if mode in ("L", "RGB") and key is not None:
        return image.convert("RGBA")  # a colour-key transparent PNG (tRNS chunk)
    if mode in ("L", "RGB", "RGBA", "CMYK", "I"):
        image.load()
        return image
    if mode == "1":
        return image.convert("L")
    if mode.startswith("I;16"):
        return image.convert("I")
    if mode in ("P", "PA"):
        return image.convert("RGBA" if mode == "PA" or key is not None else "RGB")
    if mode in ("LA", "La", "RGBa", "RGBX"):
        return image.convert("RGBA" if mode != "RGBX" else "RGB")
    try:
        return image.convert("RGB")  # YCbCr, LAB, HSV, F...
    except ValueError:
        raise errors.UnsupportedVariant(f"an image in the pixel mode {mode}, which cannot be converted") from None


def _keyed_16_bit_grey(image: Image.Image, key: int) -> Image.Image:
    """16-bit grey whose pixels equal to ``key`` are transparent (a PNG tRNS chunk)."""
    from PIL import ImageMath

    grey = image.convert("I")
    alpha = ImageMath.lambda_eval(lambda names: (names["v"] != key) * 255, v=grey)
    assert isinstance(alpha, Image.Image)
    level = grey.point(lambda value: value * (1 / 257)).convert("L")
    return Image.merge("RGBA", (level, level, level, alpha.convert("L")))


def _colour_transform(icc_profile: bytes | None, mode: str) -> "ImageCms.ImageCmsTransform | None":
    """The transform from the embedded profile to sRGB, for pixels of ``mode`` (16-bit ``I``
    is shown as ``L``); None if there is no profile, it is sRGB, or it is unusable."""
    if not icc_profile:
        return None
    from PIL import ImageCms  # (lcms: only for files that carry a profile)

    mode = "L" if mode == "I" else mode
    try:
        profile = ImageCms.ImageCmsProfile(io.BytesIO(icc_profile))
        if profile.profile.xcolor_space != _PROFILE_SPACES.get(mode):
            return None
        if (profile.profile.profile_description or "").startswith("sRGB"):
            return None
        output_mode = "RGBA" if mode == "RGBA" else "RGB"
        return ImageCms.buildTransform(profile, _srgb(), mode, output_mode, renderingIntent=ImageCms.Intent.PERCEPTUAL)
    except Exception as error:  # a broken profile must not cost the thumbnail: the pixels are shown as sRGB
        diagnostics.note(f"ignored the embedded ICC profile: {_described(error)}")
        return None


@cache
def _srgb() -> "ImageCms.ImageCmsProfile":
    from PIL import ImageCms

    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))
