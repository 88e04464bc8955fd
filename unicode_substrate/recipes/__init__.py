"""Recipes over runs: each composes ordinary training runs into a study.

``compare`` trains variants on identical data and reports them side by side, ``grow`` stacks
blocks stage by stage on a frozen substrate, ``fuse`` combines trained experts into one run,
and ``report`` writes the reports and
pictures of compare and grow. A recipe stands above the training loop (``train/``) and the
evaluation (``eval/``); neither of those imports a recipe.
"""
