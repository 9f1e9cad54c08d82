"""The command line, ``ecgtriage <command> ...``: one module per area over the library.

``ecgtriage.cli.app`` builds the parser from the ``register`` function of each command
module (``study``, ``info``, ``download``, ``prepare``, ``labels``, ``synth``, ``train``);
importing the package stays cheap because every command imports the library inside its
function.
"""

from ecgtriage.cli.app import build_parser, main

__all__ = ["build_parser", "main"]
