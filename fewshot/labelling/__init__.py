"""The labelling loop: which texts to label next (:mod:`~fewshot.labelling.suggest`), which
labels given look wrong (:mod:`~fewshot.labelling.label_errors`), and the labelling page
(``fewshot label``): a project's labels in SQLite (:mod:`~fewshot.labelling.project`), the model
refitted as they come (:mod:`~fewshot.labelling.trainer`) and the page's server
(:mod:`~fewshot.labelling.app`)."""
