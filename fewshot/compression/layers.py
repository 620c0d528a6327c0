"""``fewshot distill TEACHER --student layers:N``: the teacher's transformer with N of its layers.

The student starts as a copy of the teacher's encoder (its fine-tuned one, where it has one)
keeping N of its layers, evenly spaced and always the last (3 of 6: the 2nd, 4th and 6th), as
DistilBERT and the "pruned BERT" studies start theirs: each kept layer still expects what the
layer below it produced, roughly. It is trained on the pool towards the teacher's vectors and
probabilities (:mod:`fewshot.compression.training`), the epoch that agrees most with the teacher
on the held-out pool texts kept, then exported like any encoder (:mod:`fewshot.deploy.export`:
ONNX fp32, and int8 by onnxruntime's dynamic quantisation, the default). The student directory
is then an ONNX bundle and its head: it predicts with onnxruntime, without torch.
"""

from __future__ import annotations

import contextlib
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from fewshot.compression.student import Built, distil
from fewshot.compression.teacher import Teacher
from fewshot.errors import ConfigError
from fewshot.util import progress

BATCH_SIZE = 32
#: AdamW's step; 5e-5 is the usual one for fine-tuning a small BERT.
LEARNING_RATE = 5e-5
#: At most this many epochs over the pool; stops after PATIENCE without a better agreement.
EPOCHS, PATIENCE = 4, 1
#: ... and by default at most this many texts' passes in all, so that a larger pool costs no
#: more time (4 epochs of banking77's 7,757 training pool texts: 8.8 min on 2 cores).
PASSES = 36_000
#: The ONNX fp32 student must give the torch student's vectors to this cosine.
EXPORT_COSINE = 0.9999


def kept_layers(total: int, keep: int) -> list[int]:
    """The indices of the ``keep`` layers kept of ``total``: evenly spaced, the last included."""
    if not 1 <= keep < total:
        raise ConfigError(
            f"--student layers:{keep}: the teacher's encoder has {total} layers; keep from 1 "
            f"to {total - 1}"
        )
    return [round((i + 1) * total / keep) - 1 for i in range(keep)]


def distill_layers(
    teacher_directory: str | Path,
    unlabeled: list[str],
    out: str | Path,
    *,
    layers: int,
    seed: int = 0,
    epochs: int | None = None,
    device: str | None = None,
    test=None,
    text_column: str = "text",
) -> dict[str, Any]:
    """Distil the model in ``teacher_directory`` into a transformer of ``layers`` of its layers
    at ``out`` (see :func:`fewshot.compression.static.distill_static` for the rest). ``epochs``:
    at most that many (None: up to 4, and no more than 36,000 texts' passes in all)."""
    from fewshot.encoding.onnx_encoder import require_onnxruntime

    require_onnxruntime()

    def build(teacher: Teacher, texts, taught, train, held) -> Built:
        most = epochs or max(1, min(EPOCHS, PASSES // len(train)))
        return _build(teacher, texts, taught, train, held, layers, seed, most, device)

    return distil(
        teacher_directory, unlabeled, out, kind=f"layers:{layers}", build=build, seed=seed,
        device=device, test=test, text_column=text_column,
    )  # fmt: skip


def _build(teacher, texts, taught, train, held, layers, seed, epochs, device) -> Built:
    from fewshot.encoding.model_loading import load_sentence_transformer
    from fewshot.models.directory import ENCODER_DIR, verified_copy

    source = teacher.encoder_directory()
    with contextlib.ExitStack() as stack:
        if source.is_relative_to(teacher.directory):  # inside the teacher: load what is checked
            source = stack.enter_context(
                verified_copy(teacher.directory, teacher.config, ENCODER_DIR)
            )
        # a fresh copy: the registered encoder's loaded model may be shared in this process
        model = load_sentence_transformer(source, device or "cpu")
    transformer = model[0].auto_model
    total = len(transformer.encoder.layer)
    kept = kept_layers(total, layers)
    import torch

    transformer.encoder.layer = torch.nn.ModuleList([transformer.encoder.layer[i] for i in kept])
    transformer.config.num_hidden_layers = layers
    ran = _train(model, texts, taught, teacher, train, held, seed, epochs)
    with (
        tempfile.TemporaryDirectory(prefix="fewshot-student-") as folder,
        progress.waiting("exporting the student to ONNX (fp32, int8)"),
    ):
        files, entry, encoder = _export(model, Path(folder), texts, held)
    return Built(
        encoder=encoder,
        folder="onnx",
        files=files,
        entry=entry,
        details={"epochs": ran, "layers": {"kept": [i + 1 for i in kept], "of": total}},
        description=(
            f"A transformer of {layers} of the teacher encoder's {total} layers (layers "
            f"{', '.join(str(i + 1) for i in kept)}), trained towards the teacher's vectors and "
            "probabilities, exported to ONNX (fp32, and int8 by default), then the teacher's "
            "head: it predicts with onnxruntime, no torch."
        ),
    )


def _train(model, texts, taught, teacher, train, held, seed, epochs) -> int:
    """Train the cut transformer on the pool's training rows; keeps the best epoch's weights
    in ``model`` and returns the epochs run."""
    import torch

    from fewshot.compression.training import Objective, train_epochs

    torch.manual_seed(seed)
    device = model.device
    target = teacher.head.inputs(taught)
    normalize = bool(np.allclose(np.linalg.norm(target, axis=1), 1.0, atol=1e-3))
    objective = Objective(teacher.head, target, normalize, device)
    optimiser = torch.optim.AdamW(model.parameters(), lr=LEARNING_RATE)
    tokenize = getattr(model, "preprocess", None) or model.tokenize  # renamed in ST 6

    def vectors(rows):
        features = tokenize([texts[i] for i in rows])
        features = {k: v.to(device) if hasattr(v, "to") else v for k, v in features.items()}
        return model(features)["sentence_embedding"]

    def step(rows) -> None:
        model.train()
        optimiser.zero_grad()
        objective.loss(vectors(rows), rows).backward()
        optimiser.step()

    def score() -> float:
        model.eval()
        with torch.no_grad():
            held_vectors = torch.cat([vectors(held[i : i + 256]) for i in range(0, len(held), 256)])
        return objective.agreement(held_vectors, held)

    best, ran = train_epochs(
        train, batch_size=BATCH_SIZE, epochs=epochs, patience=PATIENCE, seed=seed, step=step,
        score=score, snapshot=lambda: {k: v.detach().clone() for k, v in model.state_dict().items()},
    )  # fmt: skip
    model.load_state_dict(best)
    model.eval()
    return ran


def _export(model, folder: Path, texts: list[str], held: np.ndarray):
    """The trained student as an ONNX bundle: (files by name, its ``onnx`` entry, its int8
    encoder), the fp32 graph checked against the torch student first."""
    from fewshot.deploy.export import export_graph, quantize_graph
    from fewshot.encoding.onnx_encoder import BUNDLE_DIR, TOKENIZER, VARIANTS, OnnxEncoder

    model.save(str(folder / "model"))
    bundle = folder / BUNDLE_DIR
    bundle.mkdir()
    graph = export_graph(folder / "model", bundle)
    graph["quantizer"] = quantize_graph(bundle)
    files = {
        f"{BUNDLE_DIR}/{name}": (bundle / name).read_bytes()
        for name in (TOKENIZER, *VARIANTS.values())
    }
    tokenizer = files[f"{BUNDLE_DIR}/{TOKENIZER}"].decode("utf-8")

    def encoder(variant: str) -> OnnxEncoder:
        name = f"{BUNDLE_DIR}/{VARIANTS[variant]}"
        return OnnxEncoder(
            files[name], tokenizer, variant, graph["inputs"], identity=f"onnx:{variant}:student",
            dimension=graph["dimension"],
        )  # fmt: skip

    sample = [texts[i] for i in held[:256]]
    exported = encoder("fp32").encode(sample)
    expected = model.encode(sample, convert_to_numpy=True, show_progress_bar=False)
    cosine = np.sum(exported * expected, axis=1) / np.maximum(
        np.linalg.norm(exported, axis=1) * np.linalg.norm(expected, axis=1), 1e-12
    )
    if cosine.min() < EXPORT_COSINE:
        raise ConfigError(
            f"the student's ONNX export does not give its vectors (cosine {cosine.min():.5f}); "
            "nothing was written"
        )
    variants = {v: {"file": f"{BUNDLE_DIR}/{VARIANTS[v]}"} for v in VARIANTS}
    entry = {"default": "int8", "variants": variants, **graph}
    return files, entry, encoder("int8")
