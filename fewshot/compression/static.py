"""``fewshot distill TEACHER --student static``: a model of one vector per token.

Two steps. model2vec (``distill_from_model``) runs the teacher's encoder (its fine-tuned one,
where it has one) over every token of its vocabulary and keeps the principal components of the
outputs, weighted by token frequency: a static model of the teacher's encoder, which loses much of
what a sentence's context adds (a logistic probe on it scores 0.696 on banking77 5-shot, against
0.808 on the transformer). Then the token vectors are trained on the pool so that the mean of a
text's token vectors is what the teacher's head reads: a projection to the teacher's dimension
fitted by least squares, then every token vector moved (sparse Adam) to minimise the
divergence of the head's probabilities from the teacher's plus the cosine distance between the
vectors. The epoch kept is the one whose student agrees most with the teacher on the held-out
tenth of the pool (:mod:`fewshot.compression.student`).
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

import numpy as np

from fewshot.compression.student import Built, distil
from fewshot.compression.teacher import Teacher
from fewshot.encoding.static_encoder import EMBEDDINGS, STATIC_DIR, TOKENIZER, StaticEncoder
from fewshot.errors import ConfigError
from fewshot.util import progress

#: model2vec's dimensions before the projection; 256 is its default and keeps the file small.
PCA_DIMS = 256
BATCH_SIZE = 64
LEARNING_RATE = 3e-3
#: At most this many epochs; training stops after PATIENCE epochs without a better agreement.
EPOCHS, PATIENCE = 30, 3


def require_distill() -> None:
    try:
        import model2vec.distill  # noqa: F401
    except ImportError:
        raise ConfigError(
            "distilling a static student needs model2vec: pip install 'fewshot[distill]'"
        ) from None


def distill_static(
    teacher_directory: str | Path,
    unlabeled: list[str],
    out: str | Path,
    *,
    seed: int = 0,
    epochs: int = EPOCHS,
    device: str | None = None,
    test=None,
    text_column: str = "text",
) -> dict[str, Any]:
    """Distil the model in ``teacher_directory`` into a static student at ``out``, learning on
    its training texts and those of ``unlabeled`` (files or ``NAME:SPLIT``; labels never read).
    ``test``: labelled texts (:class:`~fewshot.data.texts.LabeledTexts`) to measure the
    student's accuracy on, for its card. Returns the ``student`` entry written to
    ``fewshot.json``."""
    require_distill()

    def build(teacher: Teacher, texts, taught, train, held) -> Built:
        from safetensors.numpy import save

        with progress.waiting("token vectors from the teacher's encoder (model2vec)"):
            table, tokenizer_json = _token_vectors(teacher, device)
        normalize = bool(teacher.head.normalize) or bool(
            np.allclose(np.linalg.norm(taught, axis=1), 1.0, atol=1e-3)
        )
        table, ran = _train(
            table, tokenizer_json, texts, taught, teacher, train, held, seed, epochs, device,
            normalize,
        )  # fmt: skip
        table = table.astype(np.float16)  # half the size; rounding moves agreement by < 0.1%
        vectors = save({"embeddings": np.ascontiguousarray(table)})
        return Built(
            encoder=StaticEncoder(table, tokenizer_json, normalize=normalize, identity="static"),
            folder=STATIC_DIR,
            files={
                f"{STATIC_DIR}/{EMBEDDINGS}": vectors,
                f"{STATIC_DIR}/{TOKENIZER}": tokenizer_json.encode("utf-8"),
            },
            entry={
                "embeddings": f"{STATIC_DIR}/{EMBEDDINGS}",
                "tokenizer": f"{STATIC_DIR}/{TOKENIZER}",
                "dimension": int(table.shape[1]),
                "tokens": int(table.shape[0]),
                "normalize": normalize,
            },
            details={"epochs": ran},
            description=(
                f"One {table.shape[1]}-dimensional vector per token ({len(vectors) / 2**20:.1f} "
                "MiB, float16), a text the mean of its tokens' vectors, then the teacher's head: "
                "it predicts with numpy and `tokenizers` alone, no torch, no onnxruntime."
            ),
        )

    return distil(
        teacher_directory, unlabeled, out, kind="static", build=build, seed=seed,
        device=device, test=test, text_column=text_column,
    )  # fmt: skip


def _token_vectors(teacher: Teacher, device: str | None) -> tuple[np.ndarray, str]:
    """model2vec's static model of the teacher's encoder: (token vectors, tokenizer JSON)."""
    from model2vec.distill import distill_from_model

    from fewshot.encoding.encoders import SentenceTransformerEncoder
    from fewshot.models.directory import ENCODER_DIR, verified_copy

    source = teacher.encoder_directory()
    with contextlib.ExitStack() as stack:
        if source.is_relative_to(teacher.directory):  # inside the teacher: load what is checked
            source = stack.enter_context(
                verified_copy(teacher.directory, teacher.config, ENCODER_DIR)
            )
        model = SentenceTransformerEncoder(source, device=device or "cpu").load()
        stack.enter_context(_model2vec_bar())
        static = distill_from_model(
            model[0].auto_model, model.tokenizer, pca_dims=PCA_DIMS, device=device or "cpu"
        )
    return np.asarray(static.embedding, dtype=np.float32), static.tokenizer.to_str()


@contextlib.contextmanager
def _model2vec_bar():
    """model2vec draws a progress bar of its own over the vocabulary: make it follow fewshot's
    rule (shown only where fewshot shows progress, on a terminal; gone when done)."""
    from functools import partial

    from model2vec.distill import inference

    original = inference.tqdm
    inference.tqdm = partial(original, disable=not progress.shown(), leave=False)
    try:
        yield
    finally:
        inference.tqdm = original


def _train(
    table, tokenizer_json, texts, taught, teacher, train, held, seed, epochs, device, normalize
):
    """Token vectors in the teacher's space, trained on the pool's training rows (see the module
    docstring); returns them and the number of epochs run."""
    import torch
    import torch.nn.functional as F

    from fewshot.compression.training import Objective, train_epochs

    torch.manual_seed(seed)
    base = StaticEncoder(table, tokenizer_json, normalize=False, identity="model2vec")
    ids = base.token_ids(texts)
    target = teacher.head.inputs(taught)
    # The projection to the teacher's space: least squares from the pooled model2vec vectors.
    pooled = base.encode([texts[i] for i in train])
    projection = np.linalg.lstsq(pooled, target[train], rcond=None)[0]
    device = torch.device(device or "cpu")
    bag = torch.nn.EmbeddingBag.from_pretrained(
        torch.from_numpy(table @ projection), freeze=False, mode="mean", sparse=True
    ).to(device)
    optimiser = torch.optim.SparseAdam(bag.parameters(), lr=LEARNING_RATE)
    objective = Objective(teacher.head, target, normalize, device)

    def student(rows) -> torch.Tensor:
        tokens = [ids[i] for i in rows]
        flat = torch.tensor([t for x in tokens for t in x], dtype=torch.long, device=device)
        offsets = torch.tensor(np.cumsum([0, *map(len, tokens[:-1])]), dtype=torch.long)
        vectors = bag(flat, offsets.to(device))
        return F.normalize(vectors, dim=1) if normalize else vectors

    def step(rows) -> None:
        optimiser.zero_grad()
        objective.loss(student(rows), rows).backward()
        optimiser.step()

    def score() -> float:
        with torch.no_grad():
            return objective.agreement(student(held), held)

    best, ran = train_epochs(
        train, batch_size=BATCH_SIZE, epochs=epochs, patience=PATIENCE, seed=seed, step=step,
        score=score, snapshot=lambda: bag.weight.detach().cpu().numpy().copy(),
    )  # fmt: skip
    return best, ran
