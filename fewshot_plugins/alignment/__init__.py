"""Domain alignment: a labelled source domain, a new target domain. One learner base
(:mod:`.learner`), one training loop (:mod:`.training`) and one file per alignment loss:
:mod:`.mmd` (DAN-style multi-kernel MMD) and :mod:`.kl` (class-conditional Gaussians)."""
