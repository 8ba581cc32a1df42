"""Image files in and out: reading, mode handling, safe writing, and ``glsr upscale``.

Reading (:func:`read_image`) checks the pixel count in the header before anything is decoded, refuses
truncated files, applies the EXIF orientation and normalises the Pillow mode to one of five array
layouts, all uint8 except 16-bit greyscale:

==========================  ============================  ===========================
Pillow mode                 array                         written back as
==========================  ============================  ===========================
``L``, ``1``                ``(H, W)`` uint8              ``L``
``I;16*``, ``I`` (0-65535)  ``(H, W)`` uint16             ``I;16`` (PNG, TIFF), else ``L``
``LA``, ``La``              ``(H, W, 2)``                 ``LA``
``RGB``, ``RGBX``, ``YCbCr``, ``HSV``, ``CMYK``  ``(H, W, 3)``  ``RGB``
``RGBA``, ``RGBa``, ``PA``  ``(H, W, 4)``                 ``RGBA``
``P``                       RGBA if it has transparency, else RGB
==========================  ============================  ===========================

A transparent colour key (``tRNS`` of an L or RGB PNG) becomes an alpha channel. CMYK is converted to
RGB through its embedded ICC profile when it has one (the output is then tagged sRGB), else with
Pillow's plain formula. 32-bit float (``F``), ``LAB`` and the other rare modes are refused with one line.

Writing (:func:`write_image`) goes to a temporary file in the destination folder, which is then renamed
over the destination, so an interrupted run never leaves a half-written image, and never replaces an
existing file unless asked. The format follows the extension: PNG, JPEG (quality 95, 4:4:4), WebP
(lossless), BMP or TIFF (deflate). The ICC profile and the EXIF block (less its orientation) are kept.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import struct
import sys
import zlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

import numpy as np
import torch
from PIL import Image, ImageFile, ImageOps, features

from glsr.errors import BadArgument, BadImage, GlsrError
from glsr.inference import Device, Precision, Upscaler, load_model

# The input pixel limit: a 40-megapixel image is 120 MB as uint8 RGB, and several times that as the
# float tensors of the network.
DEFAULT_MAX_PIXELS = 40_000_000

FORMATS = {
    ".png": "PNG",
    ".jpg": "JPEG",
    ".jpeg": "JPEG",
    ".webp": "WEBP",
    ".bmp": "BMP",
    ".tif": "TIFF",
    ".tiff": "TIFF",
}
"""Output formats by (lower-case) extension; a folder given as input contributes these files."""

_ALPHA_FORMATS = {"PNG", "WEBP", "BMP", "TIFF"}
_SIXTEEN_BIT_FORMATS = {"PNG", "TIFF"}
_EXIF_FORMATS = {"PNG", "JPEG", "WEBP"}
_ICC_FORMATS = {"PNG", "JPEG", "WEBP", "TIFF"}
_JPEG_APP1_LIMIT = 65533
_MAX_SIDE = {"JPEG": 65500, "WEBP": 16383}  # the formats' own limits on width and height
# Exif sub-IFD tags that state the image size; updated on output.
_EXIF_IFD, _PIXEL_X, _PIXEL_Y, _ORIENTATION = 0x8769, 0xA002, 0xA003, 0x0112

# Decoders raise many types on corrupt data (OSError for truncation, SyntaxError for bad headers,
# struct.error and zlib.error for broken chunks, ...); each becomes one BadImage line.
_DECODE_ERRORS = (OSError, SyntaxError, ValueError, EOFError, IndexError, struct.error, zlib.error)


@dataclass
class LoadedImage:
    """A decoded image, ready for the network.

    Attributes:
        array: ``(H, W)`` grey, ``(H, W, 2)`` grey + alpha, ``(H, W, 3)`` RGB or ``(H, W, 4)`` RGBA;
            uint8, or uint16 for 16-bit greyscale.
        icc_profile: the embedded ICC profile, to embed in the output.
        exif: the EXIF block without its orientation (already applied to ``array``).
        notes: things the user should know that are not errors (only the first frame was read, ...).
    """

    array: np.ndarray
    icc_profile: bytes | None = None
    exif: Image.Exif | None = None
    notes: list[str] = field(default_factory=list)


# --------------------------------------------------------------------------------------------- reading


@contextlib.contextmanager
def _strict_decoding() -> Iterator[None]:
    """Refuse truncated files, and let our ``max_pixels`` (checked by the caller) govern the size.

    ``Image.open`` warns above ``Image.MAX_IMAGE_PIXELS`` and raises at twice that, before our own
    header check could run and with its own message; its check is turned off while the file is read
    (opening a file decodes no pixels, and the caller refuses anything above its limit before
    decoding). ``ImageFile.LOAD_TRUNCATED_IMAGES`` is forced off, whatever another library set.
    """
    saved_limit, saved_truncated = Image.MAX_IMAGE_PIXELS, ImageFile.LOAD_TRUNCATED_IMAGES
    Image.MAX_IMAGE_PIXELS = None
    ImageFile.LOAD_TRUNCATED_IMAGES = False
    try:
        yield
    finally:
        Image.MAX_IMAGE_PIXELS, ImageFile.LOAD_TRUNCATED_IMAGES = saved_limit, saved_truncated


def _has_transparency(img: Image.Image) -> bool:
    if img.mode in ("LA", "La", "PA", "RGBA", "RGBa"):
        return True
    if img.info.get("transparency") is not None:
        return True
    return img.mode == "P" and img.palette is not None and img.palette.mode == "RGBA"


def _cmyk_to_rgb(img: Image.Image) -> tuple[Image.Image, bytes | None]:
    """CMYK to RGB: through the embedded profile to sRGB when there is one, else Pillow's formula."""
    icc = img.info.get("icc_profile")
    if not icc:
        return img.convert("RGB"), None
    from io import BytesIO

    from PIL import ImageCms

    try:
        source = ImageCms.ImageCmsProfile(BytesIO(icc))
        srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))
        rgb = ImageCms.profileToProfile(img, source, srgb, outputMode="RGB")
    except (ImageCms.PyCMSError, OSError, ValueError) as error:
        raise BadImage(f"cannot convert CMYK to RGB with its embedded colour profile ({error})") from None
    assert rgb is not None
    return rgb, srgb.tobytes()


def image_to_array(img: Image.Image) -> tuple[np.ndarray, bytes | None]:
    """A Pillow image as the array :class:`~glsr.inference.Upscaler` takes (see the module table).

    Returns the array and the ICC profile that describes it (the image's own, or sRGB after a
    colour-managed CMYK conversion). Raises :class:`BadImage` for an unsupported mode.
    """
    icc = img.info.get("icc_profile") or None
    mode = img.mode
    if mode == "CMYK":
        img, icc = _cmyk_to_rgb(img)
        mode = "RGB"
    if mode in ("I;16", "I;16L", "I;16B", "I;16N", "I"):
        if mode == "I":
            low, high = img.getextrema()
            if low < 0 or high > 65535:  # type: ignore[operator]
                raise BadImage(
                    f"32-bit integer pixels ({low} to {high}) do not fit 16 bits; "
                    "only 8- and 16-bit images are supported"
                )
        return np.asarray(img).astype(np.uint16), icc
    if mode == "F":
        raise BadImage("32-bit float images (mode F) are not supported; convert to 8 or 16 bits first")
    if mode in ("1", "L", "LA", "La"):
        target = "LA" if _has_transparency(img) else "L"
    elif mode in ("P", "PA", "RGB", "RGBA", "RGBa", "RGBX", "YCbCr", "HSV"):
        target = "RGBA" if _has_transparency(img) else "RGB"
    else:
        raise BadImage(f"unsupported image mode {mode}; expected greyscale, RGB, RGBA, palette or CMYK")
    if img.mode != target:
        img = img.convert(target)
    return np.asarray(img), icc


def _note_lost_precision(img: Image.Image) -> str | None:
    """Pillow reads 16-bit colour as 8-bit (it has no 16-bit RGB mode): say so rather than hide it."""
    if img.mode in ("RGB", "RGBA") and any(";16" in str(getattr(t, "args", "")) for t in img.tile):
        return "16-bit colour is read as 8-bit (Pillow has no 16-bit RGB mode); the output is 8-bit"
    return None


def read_image(path: str | Path, *, max_pixels: int = DEFAULT_MAX_PIXELS) -> LoadedImage:
    """Read an image file for upscaling; every problem is a :class:`BadImage` with one-line message.

    The size in the header is checked against ``max_pixels`` before any pixel is decoded.
    """
    path = Path(path)
    if not path.exists():
        raise BadImage("no such file")
    if path.is_dir():
        raise BadImage("is a folder, not an image file")
    try:
        if path.stat().st_size == 0:
            raise BadImage("empty file (0 bytes)")
    except OSError as error:
        raise BadImage(f"cannot read: {error.strerror or error}") from None
    notes: list[str] = []
    with _strict_decoding():
        try:
            img = Image.open(path)
        except Image.UnidentifiedImageError:
            raise BadImage("not an image file, or in a format Pillow cannot read") from None
        except _DECODE_ERRORS as error:
            raise BadImage(f"cannot read the image header: {_reason(error)}") from None
        with img:
            width, height = img.size
            if width * height > max_pixels:
                raise BadImage(
                    f"{width}x{height} is {width * height / 1e6:.1f} megapixels, above the limit of "
                    f"{max_pixels / 1e6:g} (raise it with --max-pixels)"
                )
            frames = getattr(img, "n_frames", 1)
            if frames > 1 and img.format != "MPO":  # MPO: a JPEG with extra views; frame 0 is the photo
                notes.append(f"has {frames} frames; only the first is upscaled")
            lost = _note_lost_precision(img)
            if lost:
                notes.append(lost)
            try:
                img.load()
                exif = img.getexif()
                ImageOps.exif_transpose(img, in_place=True)
                array, icc = image_to_array(img)
            except _DECODE_ERRORS as error:
                raise BadImage(f"cannot decode: {_reason(error)}") from None
    exif.pop(_ORIENTATION, None)
    return LoadedImage(np.ascontiguousarray(array), icc, exif if len(exif) else None, notes)


def _reason(error: BaseException) -> str:
    text = " ".join(str(error).split()) or type(error).__name__
    return text[0].lower() + text[1:] if text[:1].isupper() and not text[1:2].isupper() else text


# --------------------------------------------------------------------------------------------- writing


def output_format(path: str | Path) -> str:
    """The Pillow format for an output file name, from its extension."""
    suffix = Path(path).suffix.lower()
    if suffix not in FORMATS:
        raise BadArgument(
            f"cannot write {Path(path).name!r}: the extension must be one of {', '.join(sorted(FORMATS))}"
        )
    return FORMATS[suffix]


def check_fits(fmt: str, width: int, height: int) -> None:
    """Raise :class:`BadImage` if the format cannot store an image this large."""
    limit = _MAX_SIDE.get(fmt)
    if limit is not None and max(width, height) > limit:
        raise BadImage(
            f"the {width}x{height} output is too large for {fmt} (at most {limit} pixels a side); "
            "write .png or .tiff instead"
        )


def array_to_image(array: np.ndarray, fmt: str | None = None) -> Image.Image:
    """An upscaled array (a layout of the module table) as a Pillow image the format can store.

    uint16 stays 16-bit (``I;16``) for greyscale going to PNG or TIFF (or to no format in particular);
    otherwise it is rounded to 8 bits. Grey + alpha becomes RGBA for BMP. Raises :class:`BadImage` for
    alpha into JPEG.
    """
    array = np.asarray(array)
    channels = 1 if array.ndim == 2 else array.shape[2]
    if channels == 1 and array.ndim == 3:
        array = array[..., 0]
    sixteen = channels == 1 and (fmt is None or fmt in _SIXTEEN_BIT_FORMATS)
    if array.dtype == np.uint16 and not sixteen:
        array = np.floor(array / 257.0 + 0.5).astype(np.uint8)
    if array.dtype not in (np.uint8, np.uint16):
        raise BadImage(f"cannot write {array.dtype} pixels; expected uint8 or uint16")
    if fmt == "JPEG" and channels in (2, 4):
        raise BadImage("JPEG cannot store the alpha channel; write .png, .webp or .tiff instead")
    if channels == 2 and fmt == "BMP":
        array = np.concatenate([np.repeat(array[..., :1], 3, axis=2), array[..., 1:]], axis=2)
    # Pillow infers L, I;16, LA, RGB or RGBA from the shape and dtype.
    return Image.fromarray(np.ascontiguousarray(array))


def _exif_bytes(exif: Image.Exif | None, size: tuple[int, int], fmt: str) -> bytes | None:
    if exif is None or fmt not in _EXIF_FORMATS:
        return None
    try:
        exif.pop(_ORIENTATION, None)
        sub = exif.get_ifd(_EXIF_IFD)
        if _PIXEL_X in sub:
            sub[_PIXEL_X], sub[_PIXEL_Y] = size
        data = exif.tobytes()
    except (ValueError, TypeError, KeyError, struct.error):
        return None  # an EXIF block Pillow cannot re-encode is dropped rather than failing the image
    if fmt == "JPEG" and len(data) > _JPEG_APP1_LIMIT:
        return None
    return data


def _save_options(fmt: str, icc: bytes | None, exif: bytes | None) -> dict[str, object]:
    options: dict[str, object] = {}
    if fmt == "JPEG":
        options.update(quality=95, subsampling=0)
    elif fmt == "WEBP":
        options.update(lossless=True, exact=True)
    elif fmt == "TIFF" and features.check("libtiff"):
        options.update(compression="tiff_deflate")
    if icc and fmt in _ICC_FORMATS:
        options["icc_profile"] = icc
    if exif:
        options["exif"] = exif
    return options


def _commit(tmp: Path, path: Path, overwrite: bool) -> None:
    """Rename ``tmp`` to ``path``; without ``overwrite``, never replace a file that appeared meanwhile."""
    if overwrite:
        os.replace(tmp, path)
        return
    try:
        os.link(tmp, path)  # atomic and fails if ``path`` exists
    except FileExistsError:
        raise BadImage(f"{path} already exists; pass --overwrite to replace it") from None
    except OSError:  # a file system without hard links
        if path.exists():
            raise BadImage(f"{path} already exists; pass --overwrite to replace it") from None
        os.replace(tmp, path)


@contextlib.contextmanager
def atomic_output(path: str | Path, overwrite: bool = True) -> Iterator[BinaryIO]:
    """A binary file that becomes ``path`` only when the ``with`` block completes.

    The data goes to a hidden temporary file beside ``path``, flushed to disk, then renamed: the
    destination is either untouched or complete. Without ``overwrite``, an existing ``path`` (even one
    that appears meanwhile) raises :class:`BadImage`.
    """
    path = Path(path)
    if not overwrite and path.exists():
        raise BadImage(f"{path} already exists; pass --overwrite to replace it")
    if not path.parent.is_dir():
        raise BadArgument(f"cannot write {path}: the folder {path.parent} does not exist")
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    # O_EXCL: never follow or reuse a file of that name; 0o666 & umask: the usual permissions.
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    except OSError as error:
        raise BadArgument(f"cannot write {path}: {error.strerror or error}") from None
    try:
        with os.fdopen(fd, "wb") as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        _commit(tmp, path, overwrite)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


def write_text(path: str | Path, text: str) -> None:
    """Write a text file atomically (reports, JSON results, manifests)."""
    with atomic_output(path) as f:
        f.write(text.encode())


def write_image(
    array: np.ndarray,
    path: str | Path,
    *,
    icc_profile: bytes | None = None,
    exif: Image.Exif | None = None,
    overwrite: bool = False,
) -> None:
    """Write an image array atomically (:func:`atomic_output`), in the format of ``path``'s extension.

    Raises :class:`BadImage` if ``path`` exists and ``overwrite`` is false, and for an array the format
    cannot store.
    """
    path = Path(path)
    fmt = output_format(path)
    img = array_to_image(array, fmt)
    check_fits(fmt, *img.size)
    options = _save_options(fmt, icc_profile, _exif_bytes(exif, img.size, fmt))
    with atomic_output(path, overwrite) as f:
        img.save(f, format=fmt, **options)


# ------------------------------------------------------------------------------------------- upscaling


def upscale_array(upscaler: Upscaler, array: np.ndarray) -> np.ndarray:
    """Upscale an array of any layout :class:`~glsr.inference.Upscaler` takes; same layout and dtype out."""
    return upscaler(np.asarray(array))


def upscale(
    image: Image.Image | np.ndarray,
    scale: int,
    model: str | None = None,
    *,
    weights: str | Path | None = None,
    device: Device | str = "auto",
    tile: int | None = None,
    tile_overlap: int | None = None,
    ensemble: bool = False,
    precision: Precision = "auto",
) -> Image.Image | np.ndarray:
    """Upscale one image with a model; the Python counterpart of ``glsr upscale``.

    Args:
        image: a Pillow image (any mode of the module table) or a numpy array ``(H, W)``,
            ``(H, W, 1)``, ``(H, W, 2)`` (grey + alpha), ``(H, W, 3)`` or ``(H, W, 4)``, uint8, uint16
            or float in [0, 1].
        scale: 2, 3 or 4.
        model, weights, device, tile, tile_overlap, ensemble, precision: as for
            :func:`~glsr.inference.load_model`.

    Returns:
        The same kind as ``image``: a Pillow image of the same mode family (palette images come back
        RGB or RGBA, CMYK as RGB, 16-bit greyscale as ``I;16``, ``I`` as ``I``) carrying the ICC
        profile, or an array of the same shape layout and dtype. To upscale many images, build the
        model once with :func:`~glsr.inference.load_model` and use :func:`upscale_array`.
    """
    if not isinstance(image, Image.Image | np.ndarray):
        raise BadArgument(f"expected a PIL image or a numpy array, got {type(image).__name__}")
    upscaler = load_model(
        model,
        scale,
        weights=weights,
        device=device,
        tile=tile,
        tile_overlap=tile_overlap,
        ensemble=ensemble,
        precision=precision,
    )
    if isinstance(image, np.ndarray):
        return upscale_array(upscaler, image)
    image.load()
    array, icc = image_to_array(image)
    out = array_to_image(upscale_array(upscaler, array))
    if image.mode == "I":
        out = out.convert("I")
    if icc:
        out.info["icc_profile"] = icc
    return out


# ------------------------------------------------------------------------------------------------ files


@dataclass
class _Job:
    source: str  # as the user wrote it (folders: joined with the file name)
    path: Path | None  # None: the error is already known
    output: Path | None = None
    error: str | None = None


def default_output(path: Path, scale: int, out_dir: Path | None = None) -> Path:
    """``<stem>_x<scale>.<ext>`` beside the input or in ``out_dir``; PNG for extensions we cannot write."""
    suffix = path.suffix if path.suffix.lower() in FORMATS else ".png"
    return (out_dir or path.parent) / f"{path.stem}_x{scale}{suffix}"


def _expand(inputs: Sequence[str | Path]) -> list[_Job]:
    """Files as given, folders as their image files (sorted, not recursive); duplicates once."""
    jobs: list[_Job] = []
    seen: set[Path] = set()

    def add(source: str, path: Path) -> None:
        key = path.resolve()
        if key not in seen:
            seen.add(key)
            jobs.append(_Job(source, path))

    for item in inputs:
        path = Path(item)
        if path.is_dir():
            files = sorted(p for p in path.iterdir() if p.suffix.lower() in FORMATS and p.is_file())
            if not files:
                jobs.append(_Job(str(item), None, error=f"no image files ({', '.join(sorted(FORMATS))})"))
            for file in files:
                add(str(path / file.name), file)
        else:
            add(str(item), path)
    return jobs


def _same_file(a: Path, b: Path) -> bool:
    try:
        return a.exists() and b.exists() and os.path.samefile(a, b)
    except OSError:
        return a.resolve() == b.resolve()


def upscale_files(
    inputs: Sequence[str | Path],
    *,
    scale: int,
    model: str | None = None,
    weights: str | Path | None = None,
    output: str | Path | None = None,
    out_dir: str | Path | None = None,
    tile: int | None = None,
    tile_overlap: int | None = None,
    ensemble: bool = False,
    device: Device | str = "auto",
    precision: Precision = "auto",
    overwrite: bool = False,
    max_pixels: int | None = None,
) -> int:
    """Upscale image files and folders of images; ``glsr upscale``. Returns the exit code.

    Each output is ``<stem>_x<scale>.<ext>`` beside its input, or in ``out_dir`` (created if needed),
    or ``output`` for a single input file. A file that cannot be processed gets one line on stderr,
    ``glsr: error: <file>: <reason>``, and no output; the others are still processed, and the exit
    code is then 2. Problems with the options, the model or its weights raise
    :class:`~glsr.errors.GlsrError` before any file is touched.
    """
    from tqdm import tqdm

    if not inputs:
        raise BadArgument("no input files given")
    limit = DEFAULT_MAX_PIXELS if max_pixels is None else int(max_pixels)
    if limit <= 0:
        raise BadArgument(f"--max-pixels must be positive, got {max_pixels}")
    if output is not None and out_dir is not None:
        raise BadArgument("give either -o/--output or --out-dir, not both")
    if output is not None:
        if len(inputs) != 1 or Path(inputs[0]).is_dir():
            raise BadArgument("-o/--output needs exactly one input file; use --out-dir for several")
        output = Path(output)
        output_format(output)
        if output.is_dir():
            raise BadArgument(f"-o {output} is a folder; use --out-dir")
        if not output.parent.is_dir():
            raise BadArgument(f"the folder of -o {output} does not exist")
    folder = None
    if out_dir is not None:
        folder = Path(out_dir)
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise BadArgument(f"cannot create --out-dir {folder}: {error.strerror or error}") from None

    jobs = _expand(inputs)
    for job in jobs:
        if job.path is not None:
            job.output = output if output is not None else default_output(job.path, scale, folder)
    upscaler = load_model(
        model,
        scale,
        weights=weights,
        device=device,
        tile=tile,
        tile_overlap=tile_overlap,
        ensemble=ensemble,
        precision=precision,
    )

    failures = 0
    written: dict[Path, str] = {}

    def say(kind: str, source: str, message: str) -> None:
        tqdm.write(f"glsr: {kind}: {source}: {message}", file=sys.stderr)

    # The bar goes to stderr, only for two files or more, and only on a terminal (disable=None).
    with tqdm(jobs, desc="upscale", unit="image", file=sys.stderr, disable=True if len(jobs) < 2 else None) as bar:
        for job in bar:
            try:
                if job.error is not None:
                    raise BadImage(job.error)
                assert job.path is not None and job.output is not None
                _upscale_file(job.path, job.output, upscaler, limit, overwrite, written, say, job.source)
                written[job.output.resolve()] = job.source
            except GlsrError as error:
                failures += 1
                say("error", job.source, str(error))
            except (torch.OutOfMemoryError, MemoryError):
                failures += 1
                say("error", job.source, "out of memory; try a smaller --tile, or --device cpu")
    if failures and len(jobs) > 1:
        tqdm.write(f"glsr: {failures} of {len(jobs)} inputs failed", file=sys.stderr)
    return 2 if failures else 0


def _upscale_file(
    path: Path,
    out: Path,
    upscaler: Upscaler,
    max_pixels: int,
    overwrite: bool,
    written: dict[Path, str],
    say: Callable[[str, str, str], None],
    source: str,
) -> None:
    """Read, check, upscale and write one file; every problem is a :class:`GlsrError`."""
    if out.resolve() in written:
        raise BadImage(f"{out} was already written from {written[out.resolve()]} in this run")
    if out.is_dir():
        raise BadImage(f"the output {out} is a folder")
    if not overwrite and _same_file(path, out):
        raise BadImage("the output is the input file; pass --overwrite to replace it")
    if not overwrite and out.exists():
        raise BadImage(f"{out} already exists; pass --overwrite to replace it")
    fmt = output_format(out)
    image = read_image(path, max_pixels=max_pixels)
    for note in image.notes:
        say("warning", source, note)
    if fmt == "JPEG" and image.array.ndim == 3 and image.array.shape[2] in (2, 4):
        raise BadImage(f"{out.name}: JPEG cannot store the alpha channel; write .png, .webp or .tiff instead")
    height, width = image.array.shape[:2]
    check_fits(fmt, width * upscaler.scale, height * upscaler.scale)
    result = upscale_array(upscaler, image.array)
    try:
        write_image(result, out, icc_profile=image.icc_profile, exif=image.exif, overwrite=overwrite)
    except (OSError, ValueError) as error:  # the encoders raise both
        detail = error.strerror if isinstance(error, OSError) and error.strerror else _reason(error)
        raise BadImage(f"cannot write {out}: {detail}") from None
