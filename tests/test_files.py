"""Tests of glsr.files: ``glsr upscale`` on real files, modes, metadata, bad input, safe writing."""

from __future__ import annotations

import os
import struct
import subprocess
import sys
import sysconfig
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageFile

import glsr
from glsr import cli
from glsr.files import read_image, write_image
from glsr.models import create_model
from glsr.resize import imresize
from glsr.weights import save_weights

BICUBIC = ["--model", "bicubic"]
Capture = pytest.CaptureFixture[str]


def run(capsys: Capture, *args: str | Path) -> tuple[int, list[str]]:
    """Run ``glsr upscale`` in-process; returns the exit code and the lines of stderr."""
    code = cli.main(["upscale", *map(str, args)])
    return code, capsys.readouterr().err.splitlines()


def noise(h: int, w: int, channels: int = 3, seed: int = 0) -> np.ndarray:
    """A smooth-ish random uint8 image (random noise blurred by a bicubic upscale)."""
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, (h // 4 + 2, w // 4 + 2) + ((channels,) if channels > 1 else ()))
    return imresize(small.astype(np.uint8), size=(h, w))


def save(path: Path, array: np.ndarray, **options: object) -> Path:
    Image.fromarray(array).save(path, **options)
    return path


def leftovers(folder: Path) -> list[str]:
    """Temporary files left behind (every write goes through a hidden ``.*.tmp`` file)."""
    return [p.name for p in folder.iterdir() if p.name.endswith(".tmp")]


@pytest.fixture
def rgb(tmp_path: Path) -> Path:
    return save(tmp_path / "photo.png", noise(20, 30))


@pytest.fixture(scope="module")
def glrl_weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A random-weights, full-size glrl (nothing is trained): checks the network path, not quality."""
    path = tmp_path_factory.mktemp("weights") / "glrl_random.safetensors"
    save_weights(create_model("glrl", 2), path)
    return path


# ----------------------------------------------------------------------------------------------- modes


def test_grey_stays_grey(tmp_path: Path, capsys: Capture) -> None:
    grey = noise(20, 30, channels=1)
    source = save(tmp_path / "g.png", grey)
    assert run(capsys, source, "--scale", "3", *BICUBIC) == (0, [])
    out = Image.open(tmp_path / "g_x3.png")
    assert (out.mode, out.size) == ("L", (90, 60))
    assert np.abs(np.asarray(out).astype(int) - imresize(grey, 3)).max() <= 1


def test_rgba_keeps_alpha(tmp_path: Path, capsys: Capture) -> None:
    opaque = np.dstack([noise(20, 30), np.full((20, 30), 255, np.uint8)])
    varying = np.dstack([noise(20, 30), noise(20, 30, channels=1, seed=1)])
    save(tmp_path / "opaque.png", opaque)
    save(tmp_path / "varying.png", varying)
    code, err = run(capsys, tmp_path / "opaque.png", tmp_path / "varying.png", "--scale", "2", *BICUBIC)
    assert (code, err) == (0, [])
    out = Image.open(tmp_path / "opaque_x2.png")
    assert (out.mode, out.size) == ("RGBA", (60, 40))
    assert (np.asarray(out)[..., 3] == 255).all()
    alpha = np.asarray(Image.open(tmp_path / "varying_x2.png"))[..., 3]
    assert np.array_equal(alpha, imresize(varying[..., 3], 2))


def test_grey_alpha_stays_grey_alpha(tmp_path: Path, capsys: Capture) -> None:
    la = np.dstack([noise(20, 30, channels=1), noise(20, 30, channels=1, seed=1)])
    source = save(tmp_path / "la.png", la)
    assert run(capsys, source, "--scale", "2", *BICUBIC) == (0, [])
    out = Image.open(tmp_path / "la_x2.png")
    assert (out.mode, out.size) == ("LA", (60, 40))
    assert np.array_equal(np.asarray(out)[..., 1], imresize(la[..., 1], 2))


@pytest.mark.parametrize("transparent", [False, True])
def test_palette(tmp_path: Path, capsys: Capture, transparent: bool) -> None:
    image = Image.fromarray(noise(20, 30)).quantize(16)
    if transparent:
        image.info["transparency"] = 0
    image.save(tmp_path / "p.png")
    assert Image.open(tmp_path / "p.png").mode == "P"
    assert run(capsys, tmp_path / "p.png", "--scale", "2", *BICUBIC) == (0, [])
    out = Image.open(tmp_path / "p_x2.png")
    assert (out.mode, out.size) == ("RGBA" if transparent else "RGB", (60, 40))
    expected = imresize(np.asarray(image.convert("RGB")), 2)
    assert np.abs(np.asarray(out)[..., :3].astype(int) - expected).max() <= 1


def test_16_bit_grey_stays_16_bit(tmp_path: Path, capsys: Capture) -> None:
    grey8 = noise(20, 30, channels=1)
    save(tmp_path / "g8.png", grey8)
    save(tmp_path / "g16.png", grey8.astype(np.uint16) * 257)
    assert Image.open(tmp_path / "g16.png").mode == "I;16"
    assert run(capsys, tmp_path / "g8.png", tmp_path / "g16.png", "--scale", "2", *BICUBIC) == (0, [])
    out16 = Image.open(tmp_path / "g16_x2.png")
    assert (out16.mode, out16.size) == ("I;16", (60, 40))
    values16 = np.asarray(out16).astype(np.float64)
    values8 = np.asarray(Image.open(tmp_path / "g8_x2.png")).astype(np.float64)
    assert np.abs(values16 / 257 - values8).max() <= 0.5 + 1e-6  # 8-bit rounding, no more
    assert (values16 % 257 != 0).mean() > 0.5  # real 16-bit precision, not 8 bits times 257


def test_exif_orientation_applied_once(tmp_path: Path, capsys: Capture) -> None:
    pixels = np.zeros((20, 30, 3), np.uint8)
    pixels[:, :15] = (255, 0, 0)  # left half red, right half blue
    pixels[:, 15:] = (0, 0, 255)
    exif = Image.Exif()
    exif[0x0112] = 6  # displayed rotated 90 degrees clockwise: the left half goes to the top
    save(tmp_path / "rot.png", pixels, exif=exif.tobytes())
    assert run(capsys, tmp_path / "rot.png", "--scale", "2", *BICUBIC) == (0, [])
    out = Image.open(tmp_path / "rot_x2.png")
    assert out.size == (40, 60)
    array = np.asarray(out)
    assert (array[:25, :, 0] == 255).all() and (array[:25, :, 2] == 0).all()
    assert (array[35:, :, 2] == 255).all() and (array[35:, :, 0] == 0).all()
    assert out.getexif().get(0x0112, 1) == 1


def test_icc_profile_kept(tmp_path: Path, capsys: Capture) -> None:
    from PIL import ImageCms

    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    for ext in (".png", ".jpg", ".webp", ".tif"):
        save(tmp_path / f"c{ext}", noise(20, 30), icc_profile=icc)
    inputs = [tmp_path / f"c{ext}" for ext in (".png", ".jpg", ".webp", ".tif")]
    assert run(capsys, *inputs, "--scale", "2", *BICUBIC) == (0, [])
    for ext in (".png", ".jpg", ".webp", ".tif"):
        assert Image.open(tmp_path / f"c_x2{ext}").info.get("icc_profile") == icc, ext


def test_cmyk_becomes_rgb(tmp_path: Path, capsys: Capture) -> None:
    Image.fromarray(noise(20, 30)).convert("CMYK").save(tmp_path / "cmyk.jpg", quality=95)
    assert run(capsys, tmp_path / "cmyk.jpg", "--scale", "2", *BICUBIC) == (0, [])
    out = Image.open(tmp_path / "cmyk_x2.jpg")
    assert (out.mode, out.size) == ("RGB", (60, 40))


def test_animation_keeps_first_frame_and_says_so(tmp_path: Path, capsys: Capture) -> None:
    frames = [Image.fromarray(noise(20, 30, seed=seed)) for seed in (0, 1)]
    frames[0].save(tmp_path / "anim.gif", save_all=True, append_images=frames[1:])
    code, err = run(capsys, tmp_path / "anim.gif", "--scale", "2", *BICUBIC)
    assert code == 0
    assert err == [f"glsr: warning: {tmp_path / 'anim.gif'}: has 2 frames; only the first is upscaled"]
    out = Image.open(tmp_path / "anim_x2.png")  # GIF is not written: the default output is PNG
    assert (out.mode, out.size, getattr(out, "n_frames", 1)) == ("RGB", (60, 40), 1)


@pytest.mark.parametrize("ext", [".png", ".jpg", ".webp", ".bmp", ".tif"])
def test_output_format_follows_extension(tmp_path: Path, capsys: Capture, ext: str) -> None:
    source = save(tmp_path / "in.png", noise(20, 30))
    target = tmp_path / f"out{ext}"
    assert run(capsys, source, "--scale", "2", "-o", target, *BICUBIC) == (0, [])
    out = Image.open(target)
    expected = {".png": "PNG", ".jpg": "JPEG", ".webp": "WEBP", ".bmp": "BMP", ".tif": "TIFF"}[ext]
    assert (out.format, out.mode, out.size) == (expected, "RGB", (60, 40))
    assert run(capsys, source, "--scale", "2", "-o", tmp_path / "ref.png", *BICUBIC)[0] == 0
    error = np.abs(np.asarray(out).astype(int) - np.asarray(Image.open(tmp_path / "ref.png")))
    assert error.max() <= (40 if ext == ".jpg" else 0)  # everything but JPEG is lossless
    assert leftovers(tmp_path) == []


def test_alpha_into_jpeg_is_refused(tmp_path: Path, capsys: Capture) -> None:
    source = save(tmp_path / "a.png", np.dstack([noise(20, 30), noise(20, 30, 1)]))
    code, err = run(capsys, source, "--scale", "2", "-o", tmp_path / "a.jpg", *BICUBIC)
    assert code == 2 and len(err) == 1 and "alpha" in err[0] and "a.png" in err[0]
    assert not (tmp_path / "a.jpg").exists()


def test_output_too_large_for_webp_is_refused(tmp_path: Path, capsys: Capture) -> None:
    source = save(tmp_path / "wide.png", noise(4, 8200))
    code, err = run(capsys, source, "--scale", "2", "-o", tmp_path / "wide.webp", *BICUBIC)
    assert code == 2 and err == [
        f"glsr: error: {source}: the 16400x8 output is too large for WEBP (at most 16383 pixels a side); "
        "write .png or .tiff instead"
    ]
    assert leftovers(tmp_path) == [] and not (tmp_path / "wide.webp").exists()


# ------------------------------------------------------------------------------------------- bad input


def png_header(width: int, height: int) -> bytes:
    """A PNG signature, a valid IHDR claiming ``width x height`` RGB, an empty IDAT and IEND."""

    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"")) + chunk(b"IEND", b"")


def make_bad(folder: Path, kind: str) -> Path:
    path = folder / "bad.png"
    if kind == "zero-byte":
        path.write_bytes(b"")
    elif kind == "text":
        path.write_text("this is not an image\n")
    elif kind == "truncated":
        good = save(folder / "good.png", noise(40, 40))
        data = good.read_bytes()
        good.unlink()
        path.write_bytes(data[: len(data) // 2])
    elif kind == "huge-header":
        path.write_bytes(png_header(60000, 60000))
    elif kind == "one-pixel-high":
        save(path, noise(4, 16)[:1])
    elif kind == "float":
        path = folder / "bad.tif"
        Image.fromarray(np.zeros((8, 8), np.float32)).save(path)
    assert kind == "missing" or path.exists()
    return path


BAD_KINDS = {
    "missing": "no such file",
    "zero-byte": "empty",
    "text": "not an image",
    "truncated": "truncated",
    "huge-header": "megapixels",
    "one-pixel-high": "at least 2",
    "float": "float",
}


@pytest.mark.parametrize("kind", BAD_KINDS)
def test_bad_input_one_line_no_output(tmp_path: Path, capsys: Capture, kind: str) -> None:
    bad = make_bad(tmp_path, kind)
    before = sorted(p.name for p in tmp_path.iterdir())
    code, err = run(capsys, bad, "--scale", "2", *BICUBIC)
    assert code == 2
    assert len(err) == 1, err
    assert err[0].startswith(f"glsr: error: {bad}: ") and BAD_KINDS[kind] in err[0], err[0]
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # no output, no temporary file


def test_pixel_limit_is_checked_before_decoding(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    decoded = []
    original = ImageFile.ImageFile.load
    monkeypatch.setattr(ImageFile.ImageFile, "load", lambda self: decoded.append(1) or original(self))
    path = make_bad(tmp_path, "huge-header")
    with pytest.raises(glsr.errors.BadImage, match=r"60000x60000 is 3600\.0 megapixels"):
        read_image(path)
    assert decoded == []


def test_our_pixel_limit_governs_pillow(tmp_path: Path, capsys: Capture, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)  # Pillow alone would refuse 600 pixels
    source = save(tmp_path / "a.png", noise(20, 30))
    assert run(capsys, source, "--scale", "2", *BICUBIC) == (0, [])
    assert Image.MAX_IMAGE_PIXELS == 100  # restored
    code, err = run(capsys, source, "--scale", "2", "--max-pixels", "0.0005", "-o", tmp_path / "b.png", *BICUBIC)
    assert code == 2 and len(err) == 1 and "30x20 is 0.0 megapixels, above the limit of 0.0005" in err[0]


def test_truncated_refused_even_if_pillow_is_lenient(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ImageFile, "LOAD_TRUNCATED_IMAGES", True)
    with pytest.raises(glsr.errors.BadImage, match="truncated"):
        read_image(make_bad(tmp_path, "truncated"))
    assert ImageFile.LOAD_TRUNCATED_IMAGES is True  # restored


def test_batch_goes_on_after_a_bad_file(tmp_path: Path, capsys: Capture, rgb: Path) -> None:
    bad = make_bad(tmp_path, "text")
    code, err = run(capsys, bad, rgb, tmp_path / "missing.jpg", "--scale", "2", *BICUBIC)
    assert code == 2
    assert (tmp_path / "photo_x2.png").is_file() and not (tmp_path / "bad_x2.png").exists()
    assert [line.split(": ")[2] for line in err[:2]] == [str(bad), str(tmp_path / "missing.jpg")]
    assert err[2] == "glsr: 2 of 3 inputs failed" and len(err) == 3


@pytest.mark.parametrize("command", ["script", "module"])
def test_real_command_bad_input(tmp_path: Path, command: str) -> None:
    bad = make_bad(tmp_path, "truncated")
    if command == "script":
        script = Path(sysconfig.get_path("scripts")) / "glsr"
        argv = [str(script)] if script.exists() else ["glsr"]
    else:
        argv = [sys.executable, "-m", "glsr"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    result = subprocess.run(
        [*argv, "upscale", str(bad), "--scale", "2", *BICUBIC],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert result.stderr.splitlines() == [f"glsr: error: {bad}: cannot decode: image file is truncated"]
    assert not (tmp_path / "bad_x2.png").exists()


# ------------------------------------------------------------------------------------ outputs and naming


def test_output_onto_input_is_refused(tmp_path: Path, capsys: Capture, rgb: Path) -> None:
    before = rgb.read_bytes()
    code, err = run(capsys, rgb, "--scale", "2", "-o", rgb, *BICUBIC)
    assert (
        code == 2 and len(err) == 1 and err[0].endswith("the output is the input file; pass --overwrite to replace it")
    )
    assert rgb.read_bytes() == before
    assert run(capsys, rgb, "--scale", "2", "-o", rgb, "--overwrite", *BICUBIC) == (0, [])
    assert Image.open(rgb).size == (60, 40)
    assert leftovers(tmp_path) == []


def test_crash_while_writing_leaves_no_trace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, rgb: Path) -> None:
    before = rgb.read_bytes()

    def crash(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(Image.Image, "save", crash)
    with pytest.raises(KeyboardInterrupt):
        write_image(np.zeros((4, 4), np.uint8), rgb, overwrite=True)
    assert rgb.read_bytes() == before
    assert leftovers(tmp_path) == []


def test_file_appearing_while_writing_is_kept(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "out.png"
    save = Image.Image.save

    def racing_save(self: Image.Image, *args: object, **kwargs: object) -> None:
        target.write_bytes(b"written by someone else meanwhile")
        save(self, *args, **kwargs)

    monkeypatch.setattr(Image.Image, "save", racing_save)
    with pytest.raises(glsr.errors.BadImage, match="already exists"):
        write_image(np.zeros((4, 4), np.uint8), target)
    assert target.read_bytes() == b"written by someone else meanwhile"
    assert leftovers(tmp_path) == []


def test_existing_output_needs_overwrite(tmp_path: Path, capsys: Capture, rgb: Path) -> None:
    existing = tmp_path / "photo_x2.png"
    existing.write_bytes(b"precious")
    code, err = run(capsys, rgb, "--scale", "2", *BICUBIC)
    assert code == 2 and len(err) == 1 and "already exists" in err[0] and "--overwrite" in err[0]
    assert existing.read_bytes() == b"precious"
    assert run(capsys, rgb, "--scale", "2", "--overwrite", *BICUBIC) == (0, [])
    assert Image.open(existing).size == (60, 40)


def test_default_names(tmp_path: Path, capsys: Capture, rgb: Path) -> None:
    jpeg = save(tmp_path / "snap.JPG", noise(20, 30))
    assert run(capsys, rgb, jpeg, "--scale", "4", *BICUBIC) == (0, [])
    assert (tmp_path / "photo_x4.png").is_file() and Image.open(tmp_path / "snap_x4.JPG").format == "JPEG"
    out_dir = tmp_path / "new" / "folder"
    assert run(capsys, rgb, "--scale", "3", "--out-dir", out_dir, *BICUBIC) == (0, [])
    assert sorted(p.name for p in out_dir.iterdir()) == ["photo_x3.png"]
    assert not (tmp_path / "photo_x3.png").exists()


def test_folder_input(tmp_path: Path, capsys: Capture) -> None:
    folder = tmp_path / "in"
    (folder / "sub").mkdir(parents=True)
    for name in ("b.png", "a.bmp", "sub/c.png"):
        save(folder / name, noise(8, 8))
    (folder / "notes.txt").write_text("not an image")
    out = tmp_path / "out"
    assert run(capsys, folder, "--scale", "2", "--out-dir", out, *BICUBIC) == (0, [])
    assert sorted(p.name for p in out.iterdir()) == ["a_x2.bmp", "b_x2.png"]  # not recursive
    code, err = run(capsys, tmp_path / "out" / "..", "--scale", "2", *BICUBIC)  # a folder with no images
    assert code == 2 and "no image files" in err[0]


def test_two_inputs_one_output_name(tmp_path: Path, capsys: Capture) -> None:
    first, second = save(tmp_path / "a.png", noise(8, 8)), tmp_path / "b" / "a.png"
    second.parent.mkdir()
    save(second, noise(8, 8, seed=1))
    code, err = run(capsys, first, second, "--scale", "2", "--out-dir", tmp_path / "out", "--overwrite", *BICUBIC)
    assert code == 2 and len(err) == 2 and "already written" in err[0] and str(second) in err[0]


def test_output_option_needs_one_input(tmp_path: Path, capsys: Capture, rgb: Path) -> None:
    code, err = run(capsys, rgb, rgb, "--scale", "2", "-o", tmp_path / "x.png", *BICUBIC)
    assert code == 2 and err == ["glsr: error: -o/--output needs exactly one input file; use --out-dir for several"]
    code, err = run(capsys, rgb, "--scale", "2", "-o", tmp_path / "x.gif", *BICUBIC)
    assert code == 2 and len(err) == 1 and "extension" in err[0]
    assert not (tmp_path / "x.png").exists() and not (tmp_path / "x.gif").exists()


# ----------------------------------------------------------------------------- network options, Python API


def test_network_options_reach_the_model(tmp_path: Path, capsys: Capture, rgb: Path, glrl_weights: Path) -> None:
    net = ["--model", "glrl", "--weights", glrl_weights, "--device", "cpu"]
    assert run(capsys, rgb, "--scale", "2", "-o", tmp_path / "plain.png", *net) == (0, [])
    assert run(capsys, rgb, "--scale", "2", "-o", tmp_path / "ens.png", "--ensemble", *net) == (0, [])
    plain, ens = (np.asarray(Image.open(tmp_path / n)) for n in ("plain.png", "ens.png"))
    assert plain.shape == ens.shape == (40, 60, 3) and not np.array_equal(plain, ens)
    code, err = run(capsys, rgb, "--scale", "2", "-o", tmp_path / "t.png", "--tile-overlap", "3", *net)
    assert code == 2 and len(err) == 1 and "margin" in err[0]
    assert run(capsys, rgb, "--scale", "2", "-o", tmp_path / "tiled.png", "--tile", "16", *net) == (0, [])
    tiled = np.asarray(Image.open(tmp_path / "tiled.png")).astype(int)
    assert np.abs(tiled - plain).max() <= 1
    assert run(capsys, rgb, "--scale", "2", "-o", tmp_path / "bf16.png", "--precision", "bf16", *net) == (
        0,
        [],
    )
    bf16 = np.asarray(Image.open(tmp_path / "bf16.png")).astype(int)
    assert 0 < np.abs(bf16 - plain).max() < 64  # bfloat16 arithmetic: close, but not the same


def test_python_api_pil_and_numpy() -> None:
    array = noise(20, 30)
    out = glsr.upscale(Image.fromarray(array), 2, model="bicubic", device="cpu")
    assert isinstance(out, Image.Image) and (out.mode, out.size) == ("RGB", (60, 40))
    assert glsr.upscale(Image.fromarray(array[..., 0]), 2, model="bicubic").mode == "L"
    sixteen = glsr.upscale(Image.fromarray(array[..., 0].astype(np.uint16) * 257), 2, model="bicubic")
    assert sixteen.mode == "I;16"
    for dtype, values in (
        (np.uint8, array),
        (np.uint16, array.astype(np.uint16) * 257),
        (np.float32, array / 255),
    ):
        result = glsr.upscale(values.astype(dtype), 2, model="bicubic")
        assert isinstance(result, np.ndarray) and result.dtype == dtype and result.shape == (40, 60, 3)
    assert glsr.upscale(array[..., :2], 2, model="bicubic").shape == (40, 60, 2)
    assert glsr.upscale(array[..., :1], 2, model="bicubic").shape == (40, 60, 1)
    palette = Image.new("P", (8, 6))
    palette.putpalette([0, 0, 0, 0, 255, 255, 255, 255], "RGBA")  # transparency in the palette itself
    assert glsr.upscale(palette, 2, model="bicubic").mode == "RGBA"
    assert glsr.upscale(palette.convert("RGB").convert("P"), 2, model="bicubic").mode == "RGB"
    with pytest.raises(glsr.errors.BadImage, match="at least 2"):
        glsr.upscale(array[:1], 2, model="bicubic")
