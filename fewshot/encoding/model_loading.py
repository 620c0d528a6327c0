"""Loading sentence-transformers model directories safely, and trainable copies of them.

``modules.json`` names the classes that loading imports: fewshot loads a directory only when it
names sentence-transformers' own classes (:func:`check_modules`), never with remote code, and
only from local files.
"""

from __future__ import annotations

import copy
import json
import re
from collections import OrderedDict
from pathlib import Path

from fewshot.errors import ConfigError, DataError

# modules.json names the classes that loading imports. A saved encoder may only name
# sentence-transformers' own classes, so a tampered file cannot make fewshot import anything else.
SAFE_MODULE_PREFIX = "sentence_transformers."
_DOTTED_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)+")
#: Pristine models by (directory, device), the most recent few: a model directory's encoder is
#: loaded from a fresh verified copy each time (fewshot.models.directory.verified_copy), so the
#: cache must not grow with every load.
_PRISTINE: OrderedDict[tuple[str, str], object] = OrderedDict()
_PRISTINE_KEPT = 2


def check_modules(directory: Path) -> None:
    """Refuse a model directory whose modules.json names code outside sentence-transformers."""
    modules = directory / "modules.json"
    if not modules.is_file():
        raise DataError("missing modules.json; not a sentence-transformers model", path=directory)
    try:
        entries = json.loads(modules.read_text(encoding="utf-8"))
        types = [entry["type"] for entry in entries]
    except (ValueError, TypeError, KeyError) as exc:
        raise DataError(f"unreadable modules.json ({exc})", path=directory) from None
    unsafe = [
        t
        for t in types
        if not (
            isinstance(t, str) and t.startswith(SAFE_MODULE_PREFIX) and _DOTTED_NAME.fullmatch(t)
        )
    ]
    if unsafe:
        raise DataError(
            f"modules.json names module types that fewshot will not import: {unsafe}", path=modules
        )


def load_sentence_transformer(directory: Path, device: str):
    """A fresh, trainable copy of the model in ``directory`` (read from disk once per process)."""
    import transformers
    from sentence_transformers import SentenceTransformer

    transformers.utils.logging.disable_progress_bar()
    check_modules(directory)
    key = (str(Path(directory).resolve()), device)
    if key not in _PRISTINE:
        try:
            _PRISTINE[key] = SentenceTransformer(
                str(directory), device=device, local_files_only=True, trust_remote_code=False
            )
        except Exception as exc:  # whatever a broken model directory makes its loader raise
            raise ConfigError(
                f"{directory}: cannot load it as a sentence-transformers model "
                f"({type(exc).__name__}: {exc})"
            ) from exc
    _PRISTINE.move_to_end(key)
    while len(_PRISTINE) > _PRISTINE_KEPT:
        _PRISTINE.popitem(last=False)
    return copy.deepcopy(_PRISTINE[key])
