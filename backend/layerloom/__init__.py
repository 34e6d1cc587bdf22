"""Layerloom: draw a neural network as a graph, train it with PyTorch, download the weights."""

__version__ = "0.1.0"
