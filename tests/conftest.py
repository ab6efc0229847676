import pytest
import torch


@pytest.fixture
def tiny():
    """A fresh tiny captioner with fixed random weights."""
    from asemllm.build import build_model
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
