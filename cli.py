"""The repository's entry to the ``symsteer`` command: ``python cli.py …`` from a checkout.

The app itself lives in :mod:`symsteer.cli`, so an installed package claims no top-level
name but ``symsteer``.
"""

from symsteer.cli import entry

if __name__ == "__main__":
    entry()
