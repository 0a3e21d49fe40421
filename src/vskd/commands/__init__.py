"""Sub-commands of the ``vskd`` CLI, one module each (see :mod:`vskd.cli`)."""
