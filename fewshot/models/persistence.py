"""A :class:`~fewshot.models.classifier.FewShotClassifier` as a model directory: ``save`` /
``load``, and the Hugging Face hub's names for them (``save_pretrained``, ``from_pretrained``,
``push_to_hub``). The directory's format and checks are :mod:`fewshot.models.directory`; writing
and reading its files, :mod:`fewshot.models.saving`.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from fewshot.encoding.encoders import DEFAULT_ENCODER
from fewshot.errors import ConfigError
from fewshot.learners.base import NotFittedError
from fewshot.plugins.registry import shared_registry as _registry

if TYPE_CHECKING:
    from fewshot.models.classifier import FewShotClassifier

#: How label types are told apart in a saved model (its labels are stored as strings).
_LABEL_KINDS = {"int": int, "float": float, "bool": lambda s: s == "True", "str": str}


def _load_rejection(path: Path, description: dict[str, Any], state: dict[str, np.ndarray]):
    """The rejection rule stored in a model directory."""
    from fewshot.learners.rejection import load_rejection
    from fewshot.models.directory import CONFIG, ModelError

    try:
        return load_rejection(description, state, _registry().scorers)
    except (KeyError, TypeError, ValueError, ConfigError) as exc:
        raise ModelError(f"{path / CONFIG}: unusable 'reject' ({exc})") from None


def _label_kind(classes: np.ndarray) -> str:
    for kind, types in (
        ("bool", (bool, np.bool_)),
        ("int", (int, np.integer)),
        ("float", (float, np.floating)),
    ):
        if all(isinstance(c, types) for c in classes):
            return kind
    return "str"


class SavedModelMixin:
    """The model-directory methods of :class:`~fewshot.models.classifier.FewShotClassifier`."""

    def save(self, path: str | Path, *, training: dict[str, Any] | None = None) -> Path:
        """Write the fitted classifier as a model directory (replacing only an earlier model
        there); it travels: the encoder is inside it, or the bundled default by name."""
        from fewshot.models.card import model_card
        from fewshot.models.saving import save_model

        if not hasattr(self, "learner_"):
            raise NotFittedError("this FewShotClassifier is not fitted yet; call fit first")
        if str(getattr(getattr(self, "_loaded_encoder", None), "identity", "")).startswith("onnx:"):
            raise ConfigError(
                "this classifier was loaded through its ONNX bundle, which cannot be saved as "
                "a model; load it with backend='torch' to save it"
            )
        encoder_info, encoder_directory = None, None
        if self.learner_.input_kind == "embeddings":
            encoder = self._cached_encoder()
            encoder_info = {"name": self.encoder, "identity": encoder.identity}
            if self.encoder not in _registry().encoders:  # a directory or a hub id: copied in
                encoder_directory = encoder.encoder.model
                if Path(self.encoder).is_dir():  # its name, not a path that will not travel
                    encoder_info["name"] = Path(self.encoder).name
        else:
            encoder_info = {"name": str(self.encoder), "fine_tuned": self.learner_.owns_encoder}
        training = {"examples": getattr(self, "n_training_texts_", None), **(training or {})}
        extra = {
            "classifier": {
                "encoder": self.encoder if encoder_directory is None else "encoder",
                "label_kind": _label_kind(self.classes_),
            }
        }
        rejection = getattr(self, "rejection_", None)
        if rejection is not None:
            extra["reject"] = rejection.describe()
        card = model_card(self, encoder_info, training)
        return save_model(
            self.learner_,
            path,
            encoder=encoder_info,
            training=training,
            encoder_directory=encoder_directory,
            card=card,
            extra=extra,
            extra_state={f"reject.{k}": v for k, v in rejection.scorer.get_state().items()}
            if rejection is not None
            else None,
        )

    save_pretrained = save

    @classmethod
    def load(
        cls,
        path: str | Path,
        *,
        device: str | None = None,
        cache: bool | str = True,
        links_within: Path | None = None,
        backend: str = "auto",
    ) -> FewShotClassifier:
        """A classifier saved by ``save`` (or ``fewshot adapt``), fitted and verified, ready
        to predict or to fit again. ``backend``: ``auto`` (the model's ONNX bundle where it
        has one, else torch), ``torch``, ``onnx``, ``onnx-fp32`` or ``onnx-int8``."""
        from fewshot.models.saving import load_fitted

        path = Path(path)
        learner, encoder, config, extra_state = load_fitted(
            path, device=device, links_within=links_within, backend=backend
        )
        own = config.get("classifier") or {}
        encoder_name = own.get("encoder") or (config.get("encoder") or {}).get("name")
        if encoder_name == "encoder":  # the copy inside the model
            encoder_name = str(path / "encoder")
        params = {k: v for k, v in learner.get_params().items() if k not in cls.own_params}
        reject = config.get("reject")
        classifier = cls(
            learner.name,
            encoder=encoder_name or DEFAULT_ENCODER,
            device=device or "cpu",
            cache=cache,
            **params,
        )
        if reject is not None:
            classifier.rejection_ = _load_rejection(path, reject, extra_state)
            classifier.set_params(
                reject=reject["threshold"] if reject["calibration"] == "given" else "auto",
                scorer=reject["scorer"],
                oos_label=reject["oos_label"],
                reject_recall=reject.get("recall") or 0.95,
            )
        kind = _LABEL_KINDS.get(own.get("label_kind", "str"), str)
        classifier.classes_ = np.asarray([kind(c) for c in config["labels"]])
        learner.classes_ = classifier.classes_
        classifier.multi_label_ = bool(getattr(learner, "multi_label_", False))
        classifier.learner_ = learner
        classifier._loaded_encoder = encoder
        classifier.config = config
        classifier.directory = path
        return classifier

    @classmethod
    def from_pretrained(
        cls, repo_id_or_path: str | Path, *, revision: str | None = None, **kwargs: Any
    ) -> FewShotClassifier:
        """A model directory, or a model on the Hugging Face hub by id (``ORG/NAME``), found in
        the local hub cache when it is there (offline too) and downloaded otherwise."""
        path = Path(repo_id_or_path)
        if path.is_dir():
            return cls.load(path, **kwargs)
        from huggingface_hub import snapshot_download

        try:
            snapshot = Path(
                snapshot_download(str(repo_id_or_path), revision=revision, local_files_only=True)
            )
        except Exception:
            try:
                snapshot = Path(snapshot_download(str(repo_id_or_path), revision=revision))
            except Exception as exc:
                raise ConfigError(
                    f"model {str(repo_id_or_path)!r} is neither a local directory nor in the "
                    f"local Hugging Face cache, and could not be downloaded ({type(exc).__name__})"
                ) from None
        # A hub cache snapshot is made of links to the repository's blobs; those are allowed.
        return cls.load(snapshot, links_within=snapshot.parents[1], **kwargs)

    def push_to_hub(self, repo_id: str, *, private: bool | None = None, token: str | None = None):
        """Save the classifier and upload it to the Hugging Face hub as ``repo_id``."""
        import tempfile

        from huggingface_hub import HfApi

        api = HfApi(token=token)
        api.create_repo(repo_id, private=private, exist_ok=True)
        with tempfile.TemporaryDirectory() as folder:
            self.save(Path(folder) / "model")
            return api.upload_folder(repo_id=repo_id, folder_path=Path(folder) / "model")
