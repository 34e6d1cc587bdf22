"""Catalog entries, one module per palette category; importing this package registers them all."""

from . import core, convolution, lambda_layer, merge, normalization, pooling, preprocessing, recurrent  # noqa: F401
