"""``python -m msclab`` runs the command line."""

from .cli import main

main()
