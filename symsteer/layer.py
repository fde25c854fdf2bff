"""The bilinear layer; it is the bilinear block (:mod:`symsteer.blocks.bilinear`)."""

from .blocks.base import Field, as_weight_array, field_of, random_array
from .blocks.bilinear import Bilinear

__all__ = ["Bilinear", "Field", "as_weight_array", "field_of", "random_array"]
