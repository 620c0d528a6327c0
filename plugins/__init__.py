"""fewshot's built-in learners, each a plugin found through the ``fewshot`` entry-point group."""
