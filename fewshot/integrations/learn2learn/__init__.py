"""learn2learn: building it (:mod:`.install`, ``fewshot install-meta``) and its task datasets as
fewshot episodes and back (:mod:`.tasks`).
"""
