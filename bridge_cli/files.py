"""Files the CLI writes: whole or not at all."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TextIO, cast


@contextlib.contextmanager
def written_whole(path: Path) -> Iterator[TextIO]:
    """A temporary file beside ``path``, renamed to it only once complete; removed if the writing fails or is
    interrupted, so nothing half-written is ever left where a reader looks."""
    handle = tempfile.NamedTemporaryFile(  # noqa: SIM115 - closed and renamed (or removed) below
        "w", dir=path.resolve().parent, prefix=f".{path.name}.", suffix=".partial", delete=False, encoding="utf-8"
    )
    try:
        yield cast(TextIO, handle)  # a text file: what TextIO describes
        handle.close()
        os.replace(handle.name, path)
    except BaseException:
        handle.close()
        os.unlink(handle.name)
        raise
