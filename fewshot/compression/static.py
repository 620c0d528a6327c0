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
import time
from pathlib import Path
from typing import Any

import numpy as np

from fewshot.compression.student import (
    Teacher,
    agreement,
    check_head,
    fingerprint,
    held_out_split,
    load_teacher,
    matched_thresholds,
    pool_texts,
    write_student,
)
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
    start = time.perf_counter()
    with progress.waiting("loading the teacher"):
        teacher = load_teacher(teacher_directory, device=device)
    texts = pool_texts(teacher, unlabeled, text_column=text_column)
    with progress.waiting(f"the teacher's vectors of {len(texts):,} pool texts"):
        taught = teacher.embed(texts)
    check_head(teacher, texts[:256], taught[:256])
    with progress.waiting("token vectors from the teacher's encoder (model2vec)"):
        table, tokenizer_json = _token_vectors(teacher, device)
    normalize = bool(teacher.head.normalize) or bool(
        np.allclose(np.linalg.norm(taught, axis=1), 1.0, atol=1e-3)
    )
    train, held = held_out_split(len(texts), seed)
    table, epochs_run = _train(
        table, tokenizer_json, texts, taught, teacher, train, held, seed, epochs, device, normalize
    )
    table = table.astype(np.float16)  # half the size; its rounding moves agreement by < 0.1%
    encoder = StaticEncoder(table, tokenizer_json, normalize=normalize, identity="static")
    learnt = encoder.encode(texts)
    thresholds, rejection = matched_thresholds(teacher, taught[train], learnt[train])
    inputs = teacher.head.inputs
    cosine = np.sum(inputs(learnt[held]) * inputs(taught[held]), axis=1) / np.maximum(
        np.linalg.norm(inputs(learnt[held]), axis=1) * np.linalg.norm(inputs(taught[held]), axis=1),
        1e-12,
    )
    info = {
        "kind": "static",
        "teacher": {
            "name": teacher.directory.name,
            "learner": teacher.config["learner"],
            "encoder": teacher.config.get("encoder"),
            "fewshot_json_sha256": _config_sha256(teacher.directory),
        },
        "pool": {
            "sources": ["training texts", *unlabeled],
            "texts": len(texts),
            "sha256": fingerprint(texts),
        },
        "held_out": {
            "texts": len(held),
            "agreement": round(
                agreement(teacher, taught[held], learnt[held], thresholds, rejection), 4
            ),
            "cosine": round(float(np.mean(cosine)), 4),
        },
        "epochs": epochs_run,
        "seed": seed,
        "seconds": None,
    }
    if test is not None:
        info["test"] = _test_measures(encoder, teacher, thresholds, rejection, test)
    info["seconds"] = round(time.perf_counter() - start, 1)
    files, entry = _files(table, tokenizer_json, teacher, thresholds, normalize)
    write_student(
        out,
        teacher,
        kind="static",
        files=files,
        entry=entry,
        info=info,
        rejection=rejection,
        card=student_card(teacher, info, file_bytes=len(files[f"{STATIC_DIR}/{EMBEDDINGS}"])),
    )
    return info


def _config_sha256(directory: Path) -> str:
    from fewshot.models.directory import CONFIG, sha256_file

    return sha256_file(directory / CONFIG)


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

    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    base = StaticEncoder(table, tokenizer_json, normalize=False, identity="model2vec")
    ids = base.token_ids(texts)
    head = teacher.head
    target = head.inputs(taught)
    # The projection to the teacher's space: least squares from the pooled model2vec vectors.
    pooled = base.encode([texts[i] for i in train])
    projection = np.linalg.lstsq(pooled, target[train], rcond=None)[0]
    device = torch.device(device or "cpu")
    bag = torch.nn.EmbeddingBag.from_pretrained(
        torch.from_numpy(table @ projection), freeze=False, mode="mean", sparse=True
    ).to(device)
    optimiser = torch.optim.SparseAdam(bag.parameters(), lr=LEARNING_RATE)
    weights = torch.from_numpy(np.asarray(head.weights, dtype=np.float32)).to(device)
    bias = torch.from_numpy(np.asarray(head.bias, dtype=np.float32)).to(device)
    goal = torch.from_numpy(target.astype(np.float32)).to(device)
    goal_logits = goal @ weights.T + bias
    softmax = head.activation == "softmax"
    goal_proba = goal_logits.softmax(1) if softmax else goal_logits.sigmoid()

    def student(rows) -> torch.Tensor:
        tokens = [ids[i] for i in rows]
        flat = torch.tensor([t for x in tokens for t in x], dtype=torch.long, device=device)
        offsets = torch.tensor(np.cumsum([0, *map(len, tokens[:-1])]), dtype=torch.long)
        vectors = bag(flat, offsets.to(device))
        return F.normalize(vectors, dim=1) if normalize else vectors

    def agreeing() -> float:
        with torch.no_grad():
            logits = student(held) @ weights.T + bias
        if softmax:
            return float((logits.argmax(1) == goal_logits[held].argmax(1)).float().mean())
        return float(((logits > 0) == (goal_logits[held] > 0)).float().mean())

    best, best_weights, waited, ran = agreeing(), bag.weight.detach().clone(), 0, 0
    progress.expect(epochs * -(-len(train) // BATCH_SIZE))
    for _ in range(epochs):
        ran += 1
        order = rng.permutation(train)
        for first in range(0, len(order), BATCH_SIZE):
            rows = order[first : first + BATCH_SIZE]
            vectors = student(rows)
            logits = vectors @ weights.T + bias
            if softmax:
                divergence = F.kl_div(
                    logits.log_softmax(1), goal_proba[rows], reduction="batchmean"
                )
            else:
                divergence = F.binary_cross_entropy_with_logits(logits, goal_proba[rows])
            if normalize:
                distance = (1 - F.cosine_similarity(vectors, goal[rows], dim=1)).mean()
            else:
                distance = F.mse_loss(vectors, goal[rows])
            optimiser.zero_grad()
            (divergence + distance).backward()
            optimiser.step()
            progress.step()
        score = agreeing()
        if score > best:
            best, best_weights, waited = score, bag.weight.detach().clone(), 0
        else:
            waited += 1
            if waited >= PATIENCE:
                break
    progress.finish()
    return best_weights.cpu().numpy(), ran


def _test_measures(encoder, teacher: Teacher, thresholds, rejection, test) -> dict[str, Any]:
    """The student's accuracy on labelled test texts (single-label: exact label; multi-label:
    exact label set), measured before it is written, for its card."""
    from fewshot.deploy.onnx_model import OnnxClassifier

    student = OnnxClassifier(encoder, teacher.config["labels"], teacher.head, thresholds, rejection)
    predicted = student.predict(list(test.texts))
    if thresholds is not None:
        gold = [tuple(sorted(map(str, y))) for y in test.label_sets or ()]
        right = [tuple(sorted(p)) == g for p, g in zip(predicted, gold, strict=True)]
    else:
        right = list(predicted.astype(str) == test.label_array.astype(str))
    return {"texts": len(right), "accuracy": round(float(np.mean(right)), 4)}


def _files(table, tokenizer_json, teacher: Teacher, thresholds, normalize):
    """The student's files (name -> bytes) and its ``static`` entry of ``fewshot.json``."""
    from safetensors.numpy import save

    from fewshot.deploy.onnx_model import HEAD, head_entry

    head, arrays = head_entry(teacher.head, thresholds, folder=STATIC_DIR)
    files = {
        f"{STATIC_DIR}/{EMBEDDINGS}": save({"embeddings": np.ascontiguousarray(table)}),
        f"{STATIC_DIR}/{TOKENIZER}": tokenizer_json.encode("utf-8"),
        f"{STATIC_DIR}/{HEAD}": save(arrays),
    }
    entry = {
        "embeddings": f"{STATIC_DIR}/{EMBEDDINGS}",
        "tokenizer": f"{STATIC_DIR}/{TOKENIZER}",
        "dimension": int(table.shape[1]),
        "tokens": int(table.shape[0]),
        "normalize": normalize,
        "head": head,
    }
    return files, entry


def student_card(teacher: Teacher, info: dict[str, Any], *, file_bytes: int) -> str:
    """The README.md of a static student."""
    import fewshot

    held, pool = info["held_out"], info["pool"]
    test = info.get("test")
    measured = (
        f"Accuracy on the {test['texts']:,} test texts given: **{test['accuracy']:.4f}**.\n"
        if test
        else "No test data was given to measure its accuracy (`fewshot distill ... --test DATA`).\n"
    )
    labels = "\n".join(f"- `{label}`" for label in teacher.config["labels"])
    return f"""---
library_name: fewshot
tags:
- fewshot
- text-classification
- static-embeddings
- knowledge-distillation
---

# A static student of `{info["teacher"]["name"]}`

Distilled with fewshot {fewshot.__version__} (`fewshot distill --student static`) from the
teacher model `{info["teacher"]["name"]}` (learner `{info["teacher"]["learner"]}`; its
`fewshot.json` has SHA-256 `{info["teacher"]["fewshot_json_sha256"]}`): one
{teacher.head.weights.shape[1]}-dimensional vector per token ({file_bytes / 2**20:.1f} MiB,
float16), a text the mean of its tokens' vectors, then the teacher's head. It predicts with
numpy and `tokenizers` alone: no torch, no onnxruntime.

## How it was made

- Pool of unlabelled texts: {pool["texts"]:,} ({", ".join(pool["sources"])}); SHA-256 of its sorted
  texts `{pool["sha256"]}`. Their labels were never read.
- {held["texts"]:,} pool texts held out of training: the student decides as the teacher on
  {held["agreement"]:.2%} of them (mean cosine of the vectors {held["cosine"]:.3f}).
- {info["epochs"]} epochs, seed {info["seed"]}, {info["seconds"]} s.
- Out-of-scope and multi-label thresholds, where the teacher has them, were moved to where the
  student rejects (or gives each label to) as many pool texts as the teacher.

{measured}
## Use

```python
import fewshot

classifier = fewshot.load("path/to/this/model")
classifier.predict(["a text to label"])
```

or `fewshot predict path/to/this/model texts.txt --out predictions.jsonl`.

## Labels

{labels}

## Files

Every file here is listed with its SHA-256 in `fewshot.json`, and fewshot refuses to load the
directory if one is missing, changed or added. The checksums catch damage and accidental edits,
not a determined attacker: load models only from people you trust.
"""
