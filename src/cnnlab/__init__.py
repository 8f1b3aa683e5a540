"""cnnlab: a toolkit for seeing and using everything a convolutional network is made of."""

__version__ = "0.1.0"
