"""The ``owlcap`` command: parses arguments and dispatches to the modules. Nothing imports this package."""
