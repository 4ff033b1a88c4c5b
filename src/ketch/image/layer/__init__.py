"""Layers: applying tar / tar+gzip / tar+zstd changesets onto directories, safely."""

from ketch.image.layer.apply import ApplyStats, WhiteoutMode, apply_tar
from ketch.image.layer.compression import HashingReader, decompressor
from ketch.image.layer.unpack import apply_layer

__all__ = ["ApplyStats", "HashingReader", "WhiteoutMode", "apply_layer", "apply_tar", "decompressor"]
