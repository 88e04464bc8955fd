"""Experiments over runs: each composes ordinary training runs into a comparison or a study.

``compare`` trains variants on identical data and reports them side by side, ``grow`` stacks
blocks stage by stage on a frozen substrate, ``fuse`` combines trained experts into one run,
``study`` runs any of them from one file over seeds, and ``report`` writes the reports and
pictures. An experiment stands above the training loop (``train/``), the evaluation (``eval/``)
and the data wing (``data/``); none of those imports an experiment.
"""
