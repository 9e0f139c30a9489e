"""Images as viewers show them (issue 16, item 6): each kind of file made in the test from a
real photograph, classified by the real appliance, with its expected top-1."""

from __future__ import annotations

import json

import numpy as np
from PIL import Image

from tests.support.configs import photo_config


def _variants(folder, test_data) -> dict[str, str]:
    """Files of every kind in ``folder``, and the top-1 each must get."""
    folder.mkdir()
    parrot = Image.open(test_data / "images" / "parrot.jpg").convert("RGB")
    # A camera held upright stores the pixels on their side and says so in EXIF (6:
    # rotate 90 degrees clockwise to view); on her side Grace Hopper is a "book jacket".
    hopper = Image.open(test_data / "images" / "grace_hopper.bmp").convert("RGB")
    exif = Image.Exif()
    exif[0x0112] = 6
    hopper.transpose(Image.Transpose.ROTATE_90).save(
        folder / "a_exif_rotated.jpg", exif=exif, quality=95
    )
    parrot.quantize(256).save(folder / "b_palette.png")
    parrot.convert("RGBA").save(folder / "c_rgba.png")
    parrot.convert("CMYK").save(folder / "d_cmyk.jpg")
    grey = np.asarray(parrot.convert("L"), dtype=np.uint16)
    # 16-bit grey: the same picture with every 8-bit value v stored as v * 257.
    Image.fromarray(grey * 257).save(folder / "e_grey16.png")
    parrot.convert("L").save(folder / "f_grey8.png")
    return {
        "a_exif_rotated.jpg": "military uniform",
        "b_palette.png": "macaw",
        "c_rgba.png": "macaw",
        "d_cmyk.jpg": "macaw",
    }


def test_every_kind_of_image_is_classified_as_a_viewer_shows_it(
    tmp_path, broker, test_data, subscriber_factory, appliance_factory
):
    folder = tmp_path / "kinds"
    expected = _variants(folder, test_data)
    source = f"{{type: images, path: {folder}, loop: false}}"
    config = photo_config(tmp_path, broker.port, test_data, source)
    subscriber = subscriber_factory(broker)
    appliance = appliance_factory(config)
    assert appliance.wait(60) == 0, appliance.stderr
    received = subscriber.collect(
        lambda r: any(m.topic == "edgeeye/cam1/status" and m.payload == b"offline" for m in r), 10
    )
    results = {
        r["source"]: r["labels"][0]
        for r in (json.loads(m.payload) for m in received if m.topic == "edgeeye/cam1/result")
    }
    assert {name: results[name]["label"] for name in expected} == expected
    # 16-bit grey is the 8-bit grey picture, scaled (it was clipped to near white).
    wide, narrow = results["e_grey16.png"], results["f_grey8.png"]
    assert wide["label"] == narrow["label"]
    assert abs(wide["score"] - narrow["score"]) < 0.02
