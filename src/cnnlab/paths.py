"""Where cnnlab keeps what it downloads or measures: one cache folder.

>>> cache_dir().name
'cnnlab'
"""

from __future__ import annotations

from pathlib import Path

import platformdirs


def cache_dir() -> Path:
    """The user cache folder: ``$XDG_CACHE_HOME/cnnlab`` (``~/.cache/cnnlab``) on Linux, the
    platform's own elsewhere (platformdirs)."""
    return Path(platformdirs.user_cache_dir("cnnlab", appauthor=False))
