"""Catalog entries, one module per family; importing this package registers them all (in this
order, which is the order within each palette category)."""

from . import core, lambda_layer, convolution, reshaping, pooling, recurrent, activation, normalization  # noqa: F401, I001
from . import preprocessing, augmentation, merge, regularization  # noqa: F401, I001
from . import sequence, attention, wrappers  # noqa: F401, I001
