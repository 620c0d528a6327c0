"""Gradient-based meta-learning through learn2learn: one learner base (:mod:`.learner`) and one
file per method, :mod:`.maml` and :mod:`.metasgd`. Each imports learn2learn when loaded, so a
missing install lists the plugin as unavailable instead of failing elsewhere."""
