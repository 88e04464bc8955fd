"""``python -m unicode_substrate.cli`` is the ``substrate`` command."""

from unicode_substrate.cli import main

main()
