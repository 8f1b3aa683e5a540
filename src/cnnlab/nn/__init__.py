"""Layers the lecture describes that torch lacks: locally connected, stochastic pooling."""

from cnnlab.conv.shapes import conv_output_size
from cnnlab.nn.locally_connected import LocallyConnected2d
from cnnlab.nn.pooling import StochasticPool2d, make_pool, pool_output_size

__all__ = ["LocallyConnected2d", "StochasticPool2d", "conv_output_size", "make_pool", "pool_output_size"]
