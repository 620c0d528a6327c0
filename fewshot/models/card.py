"""The model card of a model directory: ``README.md`` with Hugging Face-style YAML metadata
(written with ``huggingface_hub.ModelCard``), so the hub shows it as the hub shows any model."""

from __future__ import annotations

from typing import Any

from fewshot.encoding.encoders import BUNDLED_HUB_IDS

TEMPLATE = """---
{{ card_data }}
---

# {{ title }}

A few-shot text classifier made with fewshot {{ version }}:
learner `{{ learner }}` on the sentence encoder `{{ encoder }}`, {{ n_labels }} labels,
trained on {{ examples }} labelled texts{{ data }}.

{{ evaluation }}
{{ rejection }}
## Use

```python
import fewshot

classifier = fewshot.load("path/to/this/model")  # or FewShotClassifier.from_pretrained("ORG/NAME")
classifier.predict(["a text to label"])
```

or `fewshot predict path/to/this/model texts.txt --out predictions.jsonl`.

## Labels

{{ label_list }}

## Files

Every file here is listed with its SHA-256 in `fewshot.json`, and fewshot refuses to load the
directory if one is missing, changed or added. The checksums catch damage and accidental edits,
not a determined attacker: load models only from people you trust.
"""


def _hub_id(name: str) -> str:
    """The hub id of a registered encoder name, where there is one."""
    reverse = {local: hub for hub, local in BUNDLED_HUB_IDS.items()}
    return reverse.get(name, name)


def model_card(classifier, encoder: dict[str, Any], training: dict[str, Any]) -> str:
    """The README.md of a saved classifier."""
    from huggingface_hub import ModelCard, ModelCardData

    import fewshot

    learner = classifier.learner_
    labels = [str(c) for c in classifier.classes_]
    base = _hub_id(str(encoder.get("name", classifier.encoder)))
    accuracy = training.get("accuracy")
    metadata = {
        "learner": learner.name,
        "parameters": {k: v for k, v in learner.get_params().items() if _plain(v)},
        "labels": labels,
        "base_encoder": base,
        "training_data": {
            k: training.get(k)
            for k in ("data", "examples", "classes", "fingerprint", "unlabeled", "pseudo_labels")
            if k in training
        },
    }
    if accuracy is not None:
        metadata["accuracy"] = {"value": accuracy, "data": training.get("test")}
    rejection = getattr(classifier, "rejection_", None)
    if rejection is not None:
        metadata["out_of_scope"] = rejection.describe()
    data = ModelCardData(
        library_name="fewshot",
        pipeline_tag="text-classification",
        tags=["fewshot", "few-shot", "text-classification", "sentence-transformers"],
        base_model=base if "/" in base else None,
        fewshot=metadata,
    )
    evaluation = (
        f"Accuracy {accuracy:.4f} on {training.get('test')} ({training.get('test_examples')} texts), "
        "measured by `fewshot adapt --test`."
        if accuracy is not None
        else "No accuracy was measured when it was made (`fewshot adapt --test DATA` measures one)."
    )
    if training.get("oos_recall") is not None:
        evaluation += (
            f" In-scope accuracy {training['in_scope_accuracy']}; {training['oos_rejected']} of "
            f"{training['oos_examples']} out-of-scope texts rejected."
        )
    shown = labels[:100]
    label_list = ", ".join(f"`{label}`" for label in shown) + (
        f" and {len(labels) - len(shown)} more" if len(labels) > len(shown) else ""
    )
    card = ModelCard.from_template(
        data,
        template_str=TEMPLATE,
        title=f"fewshot {learner.name} classifier ({len(labels)} labels)",
        version=fewshot.__version__,
        learner=learner.name,
        encoder=base,
        n_labels=len(labels),
        examples=training.get("examples") or "an unrecorded number of",
        data=(f" from `{training['data']}`" if training.get("data") else "")
        + (
            f", then also on {training['pseudo_labels']} texts of `{training.get('unlabeled')}` "
            "that it labelled itself (self-training)"
            if training.get("pseudo_labels")
            else ""
        ),
        evaluation=evaluation,
        rejection=_rejection_section(rejection),
        label_list=label_list,
    )
    return str(card)


def _rejection_section(rejection) -> str:
    """The card's paragraph on "none of these": what was chosen and what was measured."""
    if rejection is None:
        return ""
    return (
        "\n## Out-of-scope rejection\n\n"
        f"A text scoring below the threshold is labelled `{rejection.oos_label}`. "
        f"{_sentence(rejection.summary().removeprefix('out-of-scope rejection: '))}. "
        "Predictions carry `in_scope_probability` where it was measured and the raw "
        "`in_scope_score`.\n"
    )


def _sentence(text: str) -> str:
    return text[:1].upper() + text[1:]


def _plain(value: Any) -> bool:
    return isinstance(value, (str, int, float, bool, type(None)))
