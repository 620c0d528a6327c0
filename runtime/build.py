"""Build the ``fewshot-runtime`` wheel: fewshot for the machines that only predict.

    python runtime/build.py [--out DIR]

The same ``fewshot`` package as the full distribution (every module, the bundled datasets), with
the requirements that predicting and serving ONNX bundles and static students need, and nothing
of the training stack: no torch, sentence-transformers, scikit-learn or scipy, and no built-in
learner plugins. A command that needs what it leaves out says so in one line (``pip install
fewshot``). Like ``opencv-python-headless`` beside ``opencv-python``, both distributions provide
the ``fewshot`` package: install one or the other in an environment, not both.

The wheel is built from a staging copy of the package with its own ``pyproject.toml``, so this
repository's build of the full ``fewshot`` is untouched. See docs/how-to/runtime.md.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

#: What predicting with a static student needs (fewshot/deploy, fewshot/encoding/static_encoder.py,
#: the command line); versions as the full distribution asks for.
REQUIREMENTS = [
    "numpy>=1.24",
    "tokenizers>=0.20",
    "safetensors>=0.4",
    "pluggy>=1.3",
    "tqdm>=4.60",
    "rich>=13",
    "filelock>=3.30",
    "platformdirs>=3",
]
EXTRAS = {
    # ONNX bundles and layers:N students. Apart, because onnxruntime alone is 78 MB installed:
    # static students alone fit the 150 MB the issue asked for (docs/how-to/runtime.md).
    "onnx": ["onnxruntime>=1.17"],
    "serve": ["fastapi>=0.110", "uvicorn>=0.29", "fastapi-offline>=1.7"],
    "parquet": ["pyarrow>=14"],
}

PYPROJECT = """[build-system]
requires = ["setuptools>=77"]
build-backend = "setuptools.build_meta"

[project]
name = "fewshot-runtime"
version = "{version}"
description = "fewshot for the machines that only predict: ONNX bundles and static students, no torch."
readme = "README.md"
requires-python = ">=3.11"
license = "Apache-2.0"
dependencies = {requirements}

[project.optional-dependencies]
{extras}

[project.scripts]
fewshot = "fewshot.cli:main"

[tool.setuptools.packages.find]
include = ["fewshot", "fewshot.*"]

[tool.setuptools.package-data]
"fewshot.data" = ["bundled/*.md", "bundled/*/*.jsonl.gz"]
"""


def _toml_list(items: list[str]) -> str:
    return "[" + ", ".join(f'"{item}"' for item in items) + "]"


def build(out: Path) -> Path:
    """Build the wheel into ``out``; returns its path."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    with tempfile.TemporaryDirectory(prefix="fewshot-runtime-") as folder:
        staging = Path(folder)
        shutil.copytree(
            ROOT / "fewshot",
            staging / "fewshot",
            ignore=shutil.ignore_patterns("__pycache__", "*.pyc"),
        )
        shutil.copy(ROOT / "runtime" / "README.md", staging / "README.md")
        (staging / "pyproject.toml").write_text(
            PYPROJECT.format(
                version=project["version"],
                requirements=_toml_list(REQUIREMENTS),
                extras="\n".join(f"{k} = {_toml_list(v)}" for k, v in EXTRAS.items()),
            )
        )
        out.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--wheel-dir",
             str(out), str(staging)],
            check=True,
        )  # fmt: skip
    (wheel,) = out.glob(f"fewshot_runtime-{project['version']}-*.whl")
    return wheel


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default="dist", help="where the wheel goes (default dist)")
    print(build(Path(parser.parse_args().out)))


if __name__ == "__main__":
    main()
