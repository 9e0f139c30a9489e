"""Where things are: the repository, and the real test data (models and photographs)."""

from __future__ import annotations

import os
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
#: ``../shared`` beside the repository, or $EDGEEYE_TEST_DATA: real models, labels, photos.
TEST_DATA = Path(os.environ.get("EDGEEYE_TEST_DATA", REPO.parent / "shared")).resolve()
#: Top-1 labels of the photographs in ../shared/images with mobilenet_v2_1.0_224_quant,
#: as listed in ../shared/README.md.
EXPECTED_TOP1 = {
    "cat.bmp": "Egyptian cat",
    "cat_720p.jpg": "Egyptian cat",
    "cat_1080p.jpg": "Egyptian cat",
    "grace_hopper.bmp": "military uniform",
    "parrot.jpg": "macaw",
}
