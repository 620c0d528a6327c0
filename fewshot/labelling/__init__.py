"""The labelling loop: which texts to label next (:mod:`~fewshot.labelling.suggest`) and which
labels given look wrong (:mod:`~fewshot.labelling.label_errors`)."""
