"""Downloading a file with checksum verification and a progress bar.

The file goes to a temporary name first and is renamed only once its md5 matches, so a
broken download never leaves a file that looks complete.
"""

from __future__ import annotations

import hashlib
import urllib.error
import urllib.request
from pathlib import Path

from tqdm import tqdm

from cnnlab import atomic

USER_AGENT = "cnnlab (https://github.com/cnnlab/cnnlab)"


def download(url: str, dest: Path, md5: str, timeout: float = 30.0, quiet: bool = False) -> None:
    """Fetch ``url`` into ``dest``; raise ``OSError`` (with the reason) on any failure,
    including a checksum mismatch."""
    request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT})
    digest = hashlib.md5(usedforsecurity=False)
    with atomic.atomic_path(dest) as tmp:
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response, open(tmp, "wb") as out:
                total = int(response.headers.get("Content-Length") or 0) or None
                with tqdm(total=total, unit="B", unit_scale=True, desc=dest.name, disable=quiet, leave=False) as bar:
                    while chunk := response.read(1 << 20):
                        out.write(chunk)
                        digest.update(chunk)
                        bar.update(len(chunk))
        except urllib.error.HTTPError as e:
            raise OSError(f"{url}: HTTP {e.code} {e.reason}") from None
        except (urllib.error.URLError, TimeoutError, ConnectionError) as e:
            raise OSError(f"{url}: {getattr(e, 'reason', e)}") from None
        if digest.hexdigest() != md5:
            raise OSError(f"{url}: checksum mismatch (md5 {digest.hexdigest()}, expected {md5})")
