"""``python -m unicode_substrate`` is the ``substrate`` command."""

from unicode_substrate.cli import main

main()
