"""Downloading a file with checksum verification and a progress bar, by pooch (the
downloader scipy's and scikit-image's datasets use).

pooch writes to a temporary file beside the target and moves it into place only once its
md5 matches, so a broken download never leaves a file that looks complete.
"""

from __future__ import annotations

from pathlib import Path

import pooch
import requests

USER_AGENT = "cnnlab (https://github.com/cnnlab/cnnlab)"

pooch.get_logger().setLevel("WARNING")  # no "Downloading file ..." line of its own: cnnlab shows a bar


def download(url: str, dest: Path, md5: str, timeout: float = 30.0, quiet: bool = False) -> None:
    """Fetch ``url`` into ``dest``; raise ``OSError`` (with the reason) on any failure,
    including a checksum mismatch."""
    dest = Path(dest)
    fetch = pooch.HTTPDownloader(progressbar=not quiet, timeout=timeout, headers={"User-Agent": USER_AGENT})
    try:
        # pooch's own Downloader protocol names its parameters unlike its own HTTPDownloader: a stub bug
        pooch.retrieve(url, known_hash=f"md5:{md5}", fname=dest.name, path=dest.parent, downloader=fetch)  # pyright: ignore[reportArgumentType]
    except requests.HTTPError as e:
        response = e.response
        raise OSError(
            f"{url}: HTTP {response.status_code} {response.reason}" if response is not None else str(e)
        ) from None
    except requests.RequestException as e:
        raise OSError(f"{url}: {type(e).__name__}: {' '.join(str(e).split())[:120]}") from None
    except ValueError as e:  # pooch: the hash does not match
        raise OSError(f"{url}: checksum mismatch ({' '.join(str(e).split())[:160]})") from None
