import os
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The project's real data (../shared/data beside the checkout, or $ASEMLLM_SHARED_DATA)."""
    root = Path(os.environ.get("ASEMLLM_SHARED_DATA") or REPO.parent / "shared" / "data")
    if not (root / "DATA.md").is_file():
        pytest.skip(f"real data not found at {root} (set ASEMLLM_SHARED_DATA)")
    return root


@pytest.fixture
def tiny():
    """A fresh tiny captioner with fixed random weights."""
    from asemllm.models import build_model
    from asemllm.config import tiny_config

    torch.manual_seed(0)
    return build_model(tiny_config())


@pytest.fixture(scope="session")
def two_photos():
    """Two real photos (scikit-image's CC0 samples) and a short caption true of each."""
    from PIL import Image
    from skimage import data

    return ([Image.fromarray(data.chelsea()), Image.fromarray(data.coffee())],
            ["a tabby cat lying on a blanket", "a cup of coffee on a saucer"])
