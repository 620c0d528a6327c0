"""What ``fewshot adapt`` reads besides its options: the training texts (or the class names of
a zero-shot start), the measures on ``--test``, and meta-training tasks."""

from __future__ import annotations

from dataclasses import replace

from fewshot.cli.common import err
from fewshot.util.words import counted


def training_data(args, registry, columns):
    """The training texts, with the names of ``--label-names`` and ``--labels`` JSON, and the
    classes ``--labels`` adds; without ``--train``, the class names of ``--labels`` are the
    training texts (what a zero-shot start learns from)."""
    from fewshot.data.label_names import class_texts, read_class_list, read_label_names
    from fewshot.data.texts import LabeledTexts

    classes, names = read_class_list(args.labels) if args.labels else ([], None)
    if args.label_names:
        names = {**(names or {}), **read_label_names(args.label_names)}
    if not args.train:  # the class names are the training texts, one each
        texts = class_texts(classes, names)
        return LabeledTexts(tuple(texts), tuple(classes), name=args.labels, label_names=names), []
    train = registry.datasets.load(args.train, columns)
    return (replace(train, label_names=names) if names else train), classes


def test_measures(args, classifier, test) -> dict:
    """``adapt --test``: the accuracy, and a warning for test labels the training data lacks.
    With rejection, texts labelled with the out-of-scope label are right when rejected, and
    the in-scope accuracy and the out-of-scope recall are measured apart."""
    import numpy as np

    predicted = classifier.predict(list(test.texts)).astype(str)
    gold = test.label_array.astype(str)
    trained = np.isin(gold, classifier.classes_.astype(str))
    rejection = classifier.rejection_
    oos = ~trained & (gold == rejection.oos_label if rejection is not None else False)
    unseen = ~trained & ~oos
    if unseen.any():
        names = sorted(set(gold[unseen]))
        shown = ", ".join(repr(str(n)) for n in names[:5]) + (" ..." if len(names) > 5 else "")
        hint = (
            "; give --reject auto to say 'none of these'"
            if rejection is None and classifier.oos_label in names
            else ""
        )
        err.print(
            f"[yellow]fewshot: warning:[/yellow] {args.test}: {counted(int(unseen.sum()), 'text')} "
            f"with labels the training data lacks ({shown}) count as wrong{hint}",
            highlight=False,
        )
    measures = {
        "test": args.test,
        "test_examples": len(test),
        "accuracy": round(float(np.mean(predicted == gold)), 4),
        "unseen_label_examples": int(unseen.sum()),
    }
    if oos.any():
        rejected = int(np.sum(predicted[oos] == rejection.oos_label))
        measures.update(
            in_scope_accuracy=round(float(np.mean(predicted[trained] == gold[trained])), 4)
            if trained.any()
            else None,
            oos_examples=int(oos.sum()),
            oos_rejected=rejected,
            oos_recall=round(rejected / int(oos.sum()), 4),
        )
    return measures


def meta_tasks(meta_data, X, train, seed: int | None):
    """Meta-training tasks shaped like the training set (its number of classes and its smallest
    class as K), from the classes of ``meta_data`` it does not have: three quarters for
    training episodes, a quarter for validation episodes."""
    import numpy as np

    from fewshot.tasks.episodes import ClassSplit
    from fewshot.tasks.meta_training import MetaTrainingData

    other = [c for c in meta_data.classes if c not in set(train.classes)]
    split = ClassSplit.by_fraction(other, base=0.75, validation=0.25, seed=seed or 0)
    _, counts = np.unique(train.label_array, return_counts=True)
    return MetaTrainingData.from_split(
        split,
        (meta_data, X),
        ways=len(counts),
        shots=int(counts.min()),
        queries=10,
        seed=seed or 0,
    )
