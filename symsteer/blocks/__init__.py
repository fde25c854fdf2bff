"""The blocks a network is a sequence of: one frozen class per kind of layer, each holding
everything about its kind once (see :mod:`symsteer.blocks.base` for the protocol)."""

from .base import Block, Residual, cauchy
from .bilinear import Bilinear
from .linear import Linear
from .norm import NormedBilinear, RMSNorm
from .chain import Chain, prenorm
from .attention import Attention, FrozenAttention
from .rotary import Rotary
from .lanes import Fork, LaneMix, Place, Slice
from .softcap import Softcap

__all__ = ["Block", "Residual", "Bilinear", "Linear", "NormedBilinear", "RMSNorm", "Chain", "prenorm", "Attention", "FrozenAttention", "Rotary", "cauchy",
           "Slice", "Fork", "Place", "LaneMix", "Softcap"]
