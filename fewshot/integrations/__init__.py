"""Other libraries, joined where they meet fewshot: learn2learn (its build and its task
datasets) and experiment trackers (:mod:`.tracking`, the MLflow one in :mod:`.mlflow_store`).
Each integration imports its library only when used.
"""
