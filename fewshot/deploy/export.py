"""``fewshot export MODEL_DIR --onnx [--quantize int8]``: add an ONNX bundle to a model directory.

The encoder a model uses (its fine-tuned one, the copy inside it, or the registered encoder it
names) is exported whole, transformer, pooling and normalisation, by PyTorch's own ONNX
exporter (``torch.onnx.export``) and quantised by onnxruntime's ``quantize_dynamic``; its
tokenizer is saved for the ``tokenizers`` library. Where the learner's predictions are a linear
head over the embeddings (``Learner.linear_head``: ``logreg``, ``finetune``), the head is written
beside them (``onnx/head.safetensors``), so the bundle predicts alone, without the learner's code
or scikit-learn (:mod:`fewshot.deploy.onnx_model`); other learners' bundles predict through the learner,
whose arrays in ``state.safetensors`` need no torch either. See :mod:`fewshot.encoding.onnx_encoder` for the
bundle's layout and for the torch-free side.

(Why not optimum / sentence-transformers' ONNX backend: optimum-onnx requires transformers
< 4.58 and sentence-transformers < 6, older than the versions fewshot runs on, and its ONNX
graph stops before pooling, which sentence-transformers then runs in torch.)

The export is built in a staging copy of the model, checked there (the model verifies, and
predictions through each ONNX variant are compared with torch's on the training texts and any
texts given), and only then swapped into place; a model whose fp32 export does not agree is
left as it was.
"""

from __future__ import annotations

import contextlib
import shutil
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from fewshot.encoding.onnx_encoder import BUNDLE_DIR, TOKENIZER, VARIANTS, require_onnxruntime
from fewshot.errors import ConfigError

#: fp32 must give the same labels as torch on at least this share of the texts (a tie between
#: two classes may flip on a 1e-7 difference) and probabilities within FP32_TOLERANCE.
FP32_AGREEMENT = 0.999
FP32_TOLERANCE = 1e-4
#: The bundle's head against the learner's own predict_proba, on the same embeddings.
HEAD_TOLERANCE = 1e-5
OPSET = 17


@dataclass
class Parity:
    """How an ONNX variant's predictions compare with torch's on ``texts`` texts."""

    variant: str
    texts: int
    agreement: float
    max_probability_difference: float

    def as_dict(self) -> dict[str, Any]:
        return {
            "texts": self.texts,
            "agreement": round(self.agreement, 6),
            "max_probability_difference": float(f"{self.max_probability_difference:.3g}"),
        }


def encoder_directory(directory: Path, config: dict[str, Any]) -> Path:
    """The sentence-transformers directory of the encoder a model uses."""
    info = config.get("encoder") or {}
    if (directory / "encoder").is_dir():  # fine-tuned, or a copy travelling with the model
        return directory / "encoder"
    from fewshot.encoding.encoders import SentenceTransformerEncoder
    from fewshot.plugins.registry import load_registry

    registry = load_registry()
    name = info.get("name")
    if name not in registry.encoders:
        raise ConfigError(f"{directory}: encoder {name!r} is not registered here; cannot export it")
    encoder = registry.encoder(name, device="cpu")
    if not isinstance(encoder, SentenceTransformerEncoder):
        raise ConfigError(
            f"{directory}: encoder {name!r} is not a sentence-transformers model; only those "
            "can be exported to ONNX"
        )
    return encoder.model


def export_graph(model_dir: Path, bundle: Path) -> dict[str, Any]:
    """The sentence-transformers model in ``model_dir`` as ``bundle/encoder.onnx`` and its
    tokenizer as ``bundle/tokenizer.json``; returns the graph's inputs, dimension, max length."""
    import torch
    from tokenizers import Tokenizer

    from fewshot.encoding.encoders import SentenceTransformerEncoder

    model = SentenceTransformerEncoder(model_dir, device="cpu").load().eval()
    transformer = getattr(model[0], "auto_model", None)
    if hasattr(transformer, "set_attn_implementation"):
        # Eager attention exports as plain MatMul and Softmax; PyTorch's fused attention (SDPA)
        # exports with extra masking nodes that cost 9% of int8 throughput (1,458 vs 1,589
        # texts/s on banking77's test texts, 2 cores) for the same vectors.
        transformer.set_attn_implementation("eager")
    hf_tokenizer = model.tokenizer
    tokenizer = Tokenizer.from_str(hf_tokenizer.backend_tokenizer.to_str())
    tokenizer.enable_truncation(max_length=model.max_seq_length)
    tokenizer.enable_padding(pad_id=hf_tokenizer.pad_token_id, pad_token=hf_tokenizer.pad_token)
    tokenizer.save(str(bundle / TOKENIZER))
    texts = ["an example", "and a somewhat longer second example text"]
    preprocess = getattr(model, "preprocess", None) or model.tokenize  # renamed in ST 6
    example = preprocess(texts)
    inputs = [n for n in ("input_ids", "attention_mask", "token_type_ids") if n in example]

    class SentenceEmbedding(torch.nn.Module):
        """Token ids in, the model's sentence embedding out (every module of the pipeline)."""

        def __init__(self):
            super().__init__()
            self.model = model

        def forward(self, *tensors):
            return self.model(dict(zip(inputs, tensors, strict=True)))["sentence_embedding"]

    with torch.no_grad(), warnings.catch_warnings():
        # The tracer warns where transformers and sentence-transformers compare shapes (mask
        # length = sequence length, no causal mask): true for every input of an encoder, so the
        # constants it records are right; the parity check below confirms it on real texts.
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        warnings.simplefilter("ignore", FutureWarning)
        # ... and about aten::index with negative indices, which these graphs do not take
        warnings.filterwarnings("ignore", message="Exporting aten::index", category=UserWarning)
        torch.onnx.export(
            SentenceEmbedding(),
            tuple(example[n] for n in inputs),
            str(bundle / VARIANTS["fp32"]),
            input_names=inputs,
            output_names=["sentence_embedding"],
            dynamic_axes={
                **{n: {0: "batch", 1: "tokens"} for n in inputs},
                "sentence_embedding": {0: "batch"},
            },
            opset_version=OPSET,
            dynamo=False,  # the TorchScript exporter: no onnxscript needed, dynamic shapes as given
        )
    return {
        "inputs": inputs,
        # sentence-transformers 6 renamed get_sentence_embedding_dimension
        "dimension": int(
            getattr(model, "get_embedding_dimension", model.get_sentence_embedding_dimension)()
        ),
        "max_length": int(model.max_seq_length),
        "exporter": f"torch.onnx {torch.__version__} (opset {OPSET})",
    }


def quantize_graph(bundle: Path) -> str:
    """int8 weights, one scale per output channel: on banking77 (5-shot logreg) per-channel
    scales kept accuracy within 0.3 points of fp32 where one scale per tensor lost 1.0."""
    import logging

    import onnxruntime
    from onnxruntime.quantization import QuantType, quantize_dynamic

    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)  # its advice to pre-process the graph changed nothing here
    try:
        quantize_dynamic(
            str(bundle / VARIANTS["fp32"]),
            str(bundle / VARIANTS["int8"]),
            weight_type=QuantType.QInt8,
            per_channel=True,
        )
    finally:
        root.setLevel(level)
    return (
        f"onnxruntime.quantization.quantize_dynamic {onnxruntime.__version__} "
        "(QInt8 weights, per channel)"
    )


def parity(model: Path, texts: list[str], variants: list[str], torch_model=None) -> list[Parity]:
    """Torch's and each ONNX variant's probabilities on ``texts``, compared (no cache). Where
    the bundle has a head, the bundle alone must give what the whole classifier gives with
    the same variant (the head's only job is to be the learner's ``predict_proba``)."""
    from fewshot.deploy.onnx_model import OnnxClassifier
    from fewshot.deploy.predictor import load_predictor
    from fewshot.models.classifier import FewShotClassifier

    if torch_model is None:
        torch_model = FewShotClassifier.load(model, cache=False, backend="torch")
    reference = torch_model.predict_proba(texts)
    results = []
    for variant in variants:
        onnx = FewShotClassifier.load(model, cache=False, backend=f"onnx-{variant}")
        proba = onnx.predict_proba(texts)
        bundle_only = load_predictor(model, cache=False, backend=f"onnx-{variant}")
        if isinstance(bundle_only, OnnxClassifier):
            _check_bundle_alone(model, onnx, bundle_only, texts, proba)
        if onnx.multi_label_:
            thresholds = onnx.learner_.thresholds_
            same = ((proba >= thresholds) == (reference >= thresholds)).all(axis=1)
        else:
            same = proba.argmax(axis=1) == reference.argmax(axis=1)
        results.append(
            Parity(variant, len(texts), float(same.mean()), float(np.abs(proba - reference).max()))
        )
    return results


def recorded_training_data(config: dict[str, Any]):
    """A model's training data (a ``LabeledTexts``), where its recorded training data still
    loads and is the same data; else None (moved or changed since, or class names alone)."""
    from fewshot.data.catalogue import Columns
    from fewshot.models.saving import data_fingerprint
    from fewshot.plugins.registry import load_registry

    training = config.get("training_data") or {}
    spec = training.get("data")
    if not isinstance(spec, str):
        return None
    try:
        # The columns it was read with (a user's CSV with a "body" column); models adapted
        # before fewshot recorded them were read with the default ones.
        data = load_registry().datasets.load(spec, Columns(**training.get("columns", {})))
    except Exception:  # moved or changed since: other texts must do
        return None
    return data if data_fingerprint(data) == training.get("fingerprint") else None


def recorded_training_texts(config: dict[str, Any]) -> list[str]:
    """A model's training texts (see :func:`recorded_training_data`; a model from class names
    alone records those), or none."""
    data = recorded_training_data(config)
    if data is not None:
        return list(data.texts)
    named = (config.get("training_data") or {}).get("class_texts")
    return [str(t) for t in named] if isinstance(named, list) else []


def parity_texts(directory: Path, config: dict[str, Any], extra: list[str]) -> list[str]:
    """The model's training texts (:func:`recorded_training_texts`) plus the texts of
    ``extra`` (dataset specs or files)."""
    from fewshot.deploy.predictions import input_rows, text_of
    from fewshot.plugins.registry import load_registry

    registry = load_registry()
    texts = recorded_training_texts(config)
    for source in extra:
        texts += [
            text_of(where, row, "text")
            for where, row in input_rows(source, text_column="text", registry=registry)
        ]
    if not texts:
        spec = (config.get("training_data") or {}).get("data")
        raise ConfigError(
            f"{directory}: its training data ({spec!r}) is not here to check the export against; "
            "give texts with --texts DATA"
        )
    return list(dict.fromkeys(texts))


def _check_bundle_alone(model: Path, whole, alone, texts: list[str], proba: np.ndarray) -> None:
    """The bundle alone must give the whole classifier's probabilities and, with an
    out-of-scope rule, its in-scope scores (same ONNX variant, so up to rounding)."""
    learner = type(whole.learner_).__name__
    difference = float(np.abs(alone.predict_proba(texts) - proba).max())
    if difference > HEAD_TOLERANCE:
        raise ConfigError(
            f"{model}: learner {learner}'s linear_head does not reproduce its predict_proba "
            f"(largest difference {difference:.2g}); the model is left as it was"
        )
    if getattr(whole, "rejection_", None) is not None:
        expected, scores = whole.predict_with_scores(texts)[2], alone.predict_with_scores(texts)[2]
        if not np.allclose(scores, expected, rtol=HEAD_TOLERANCE, atol=HEAD_TOLERANCE):
            raise ConfigError(
                f"{model}: learner {learner}'s embed is not the input of its linear_head, so the "
                "bundle alone cannot score texts for out-of-scope rejection; the model is left "
                "as it was"
            )


def export_onnx(
    directory: str | Path,
    *,
    quantize: bool = False,
    out: str | Path | None = None,
    texts: list[str] | None = None,
) -> tuple[Path, list[Parity]]:
    """Add an ONNX bundle (fp32, and int8 with ``quantize``) to the model in ``directory``, or
    to a copy of it at ``out``; returns where, and the parity of each variant with torch.

    Holds the writer lock of ``directory`` (and of ``out``) throughout: the export copies the
    model at its start and swaps the copy in at its end, and a model saved there in between
    would otherwise be silently replaced by the old one."""
    from fewshot.models.saving import writer_lock
    from fewshot.util.files import check_outside_models

    if out is not None:
        check_outside_models(out)  # refused before anything is written, even a lock file
    with contextlib.ExitStack() as locks:
        locks.enter_context(writer_lock(directory))
        if out is not None:
            locks.enter_context(writer_lock(out))
        return _export_onnx(Path(directory), quantize, out, texts)


def _export_onnx(directory: Path, quantize: bool, out, texts) -> tuple[Path, list[Parity]]:
    from fewshot.models.classifier import FewShotClassifier
    from fewshot.models.directory import read_config, verify
    from fewshot.models.saving import check_model_out, write_config
    from fewshot.util.files import building, replace_directory, share

    require_onnxruntime()
    config = read_config(directory)
    verify(directory, config)
    target = check_model_out(out) if out is not None else directory
    if out is not None and target.exists() and target.resolve() == directory.resolve():
        target = directory
    sample = parity_texts(directory, config, texts or [])
    source_encoder = encoder_directory(directory, config)
    target.parent.mkdir(parents=True, exist_ok=True)
    with building(target, "export") as staging:
        shutil.copytree(directory, staging, symlinks=True, dirs_exist_ok=True)
        # The export reads the copy: it must be what was verified (write_config below lists
        # whatever the copy holds, so a file replaced before the copy would be blessed).
        verify(staging, config)
        shutil.rmtree(staging / BUNDLE_DIR, ignore_errors=True)  # an earlier export: replaced
        bundle = staging / BUNDLE_DIR
        bundle.mkdir()
        if source_encoder.is_relative_to(directory):
            source_encoder = staging / source_encoder.relative_to(directory)
        graph = export_graph(source_encoder, bundle)
        variants = {"fp32": {"file": f"{BUNDLE_DIR}/{VARIANTS['fp32']}"}}
        if quantize:
            graph["quantizer"] = quantize_graph(bundle)
            variants["int8"] = {"file": f"{BUNDLE_DIR}/{VARIANTS['int8']}"}
        share(staging)
        config["onnx"] = {"default": "int8" if quantize else "fp32", "variants": variants, **graph}
        write_config(staging, config)
        torch_model = FewShotClassifier.load(staging, cache=False, backend="torch")
        _add_head(staging, config, torch_model.learner_)
        checks = parity(staging, sample, list(variants), torch_model)
        for check in checks:
            variants[check.variant]["parity"] = check.as_dict()
        fp32 = checks[0]
        if fp32.agreement < FP32_AGREEMENT or fp32.max_probability_difference > FP32_TOLERANCE:
            raise ConfigError(
                f"{directory}: the fp32 ONNX export does not match torch (agreement "
                f"{fp32.agreement:.4f}, largest probability difference "
                f"{fp32.max_probability_difference:.2g}); the model is left as it was"
            )
        write_config(staging, config)
        verify(staging, read_config(staging))
        replace_directory(staging, target)
    return target, checks


def _add_head(model: Path, config: dict[str, Any], learner) -> None:
    """Write the learner's linear head into the bundle, where it has one (see
    :mod:`fewshot.deploy.onnx_model`), and list it in ``config`` (written back)."""
    from safetensors.numpy import save

    from fewshot.deploy.onnx_model import head_entry
    from fewshot.models.saving import write_config
    from fewshot.util.files import share, write_new

    head = learner.linear_head()
    if head is None:
        return
    thresholds = learner.thresholds_ if getattr(learner, "multi_label_", False) else None
    entry, arrays = head_entry(head, thresholds)
    path = model / entry["file"]
    write_new(path, save(arrays))
    share(model)
    config["onnx"]["head"] = entry
    write_config(model, config)
