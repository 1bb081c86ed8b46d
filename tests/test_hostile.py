"""Hostile image input: truncated animations, decode bombs, a class uploading at once.

The bombs are small files in tests/hostile/ (written by tests/hostile/make_files.py). Each is
decoded in a fresh process whose peak resident memory is read from /proc (VmHWM, reset through
/proc/self/clear_refs just before the decode): Pillow's pixels live outside Python's allocator,
so tracemalloc would not see them.
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from PIL import Image

from attnviz import images
from attnviz.errors import InputError

HOSTILE = Path(__file__).resolve().parent / "hostile"
ROOT = HOSTILE.parent.parent


def animated_gif() -> bytes:
    """A 3-frame 40 x 30 GIF: red, green, blue."""
    colours = ((255, 0, 0), (0, 255, 0), (0, 0, 255))
    frames = [Image.new("RGB", (40, 30), colour) for colour in colours]
    buffer = io.BytesIO()
    frames[0].save(buffer, "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)
    return buffer.getvalue()


def test_every_truncation_of_an_animated_gif_is_a_photo_or_an_input_error():
    data = animated_gif()
    outcomes = {"photo": 0, "refused": 0}
    for end in range(1, len(data) + 1):
        try:
            photo = images.decode(data[:end])
        except InputError:
            outcomes["refused"] += 1
        else:
            assert photo.mode == "RGB" and photo.size == (40, 30)
            outcomes["photo"] += 1
    # Both happen: cut inside the first frame is refused, cut after it still gives frame 1.
    assert outcomes["photo"] > 0 and outcomes["refused"] > 0


# name -> what decoding it gives: the photo's size, or the key of the refusal.
BOMBS = {
    # The four the issue reported (1.3, 1.5, 0.75 and 0.94 GB before the fix).
    "png16_7000.png": [1024, 1024],
    "float_7000.tif": "error.image_too_many_pixels_format",
    "tiny_7000.webp": "error.image_too_many_pixels_format",
    "rgba_7000.png": [1024, 1024],
    # The costliest file of each kind that is still accepted.
    "rgba16_7071.png": [1024, 1024],
    "rgba_3741.webp": [1024, 1024],
    "float_4472.tif": [1024, 1024],
    "rgba16_4472.tif": [1024, 1024],
    "cmyk_progressive_4898.jpg": [1024, 1024],
    "baseline_7071.jpg": [1024, 1024],
}

# Runs in a fresh process: peak memory of one decode above the level just before it.
MEASURE = """
import json, sys
from attnviz import images
from attnviz.errors import InputError

def status(field):
    for line in open("/proc/self/status"):
        if line.startswith(field):
            return int(line.split()[1]) / 1024  # kB -> MB

data = open(sys.argv[1], "rb").read()
images.decode(images.sample_images()["chelsea"])  # warm: plugins imported, allocator set up
idle = status("VmRSS")
with open("/proc/self/clear_refs", "w") as f:
    f.write("5")  # VmHWM := VmRSS
try:
    outcome = list(images.decode(data).size)
except InputError as err:
    outcome = err.key
print(json.dumps({"peak_mb": status("VmHWM") - idle, "outcome": outcome}))
"""


def test_the_corpus_is_the_one_make_files_writes():
    sys.path.insert(0, str(HOSTILE))
    try:
        import make_files
    finally:
        sys.path.remove(str(HOSTILE))
    files = [p.name for p in HOSTILE.iterdir() if p.suffix not in (".py", ".json")]
    assert sorted(BOMBS) == sorted(files)
    # The cheap ones are rebuilt and compared byte for byte (the rest take seconds to encode).
    assert make_files.png(7000, 16, 0, 1) == (HOSTILE / "png16_7000.png").read_bytes()
    assert make_files.tiff_rgba16(4472) == (HOSTILE / "rgba16_4472.tif").read_bytes()


@pytest.mark.skipif(not Path("/proc/self/clear_refs").exists(), reason="needs Linux /proc")
@pytest.mark.parametrize("name", sorted(BOMBS))
def test_decode_bomb_peak_memory_is_bounded(name):
    run = subprocess.run(
        [sys.executable, "-c", MEASURE, str(HOSTILE / name)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr
    result = json.loads(run.stdout)
    assert result["outcome"] == BOMBS[name]
    print(f"{name}: peak {result['peak_mb']:.0f} MB above idle, {result['outcome']}")  # -rP
    assert result["peak_mb"] < images.PEAK_MB, f"{name}: {result['peak_mb']:.0f} MB"


def test_format_limits_are_read_from_the_header():
    """A progressive JPEG that claims 7071 x 7071 is refused before a byte of it is decoded."""
    buffer = io.BytesIO()
    Image.new("RGB", (64, 48), (1, 2, 3)).save(buffer, "JPEG", progressive=True)
    data = bytearray(buffer.getvalue())
    sof2 = data.index(b"\xff\xc2")  # height and width follow the length and the precision
    data[sof2 + 5 : sof2 + 9] = (7071).to_bytes(2, "big") * 2
    with pytest.raises(InputError) as err:
        images.decode(bytes(data))
    assert err.value.key == "error.image_too_many_pixels_format"
    assert err.value.params["format"] == "JPEG (progressive)"


def test_at_most_n_decodes_at_once(monkeypatch):
    """Eight uploads at the same moment: never more than DECODES_AT_ONCE are decoding."""
    active = 0
    most = 0
    lock = threading.Lock()
    shrink = images._shrunk_rgb

    def counted(image):
        nonlocal active, most
        with lock:
            active += 1
            most = max(most, active)
        time.sleep(0.05)  # long enough for every thread to have arrived
        with lock:
            active -= 1
        return shrink(image)

    monkeypatch.setattr(images, "_shrunk_rgb", counted)
    data = (HOSTILE.parent.parent / "assets" / "images" / "chelsea.jpg").read_bytes()
    errors = []

    def upload():
        try:
            images.decode(data)
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=upload) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert 1 <= most <= images.DECODES_AT_ONCE
