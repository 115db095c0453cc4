"""``python -m score_batch``: the same command as the ``focalserve-score`` console script."""

from .cli import main

main()
