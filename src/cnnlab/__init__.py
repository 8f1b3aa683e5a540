"""cnnlab: a toolkit for seeing and using everything a convolutional network is made of."""

__version__ = "0.1.0"


def __getattr__(name: str):
    # cnnlab.show is loaded on first use, so `import cnnlab` stays as light as it was
    if name == "show":
        from cnnlab.display import show

        return show
    raise AttributeError(f"module 'cnnlab' has no attribute {name!r}")
