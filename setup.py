"""Build hook: the repository keeps the claims in proofs/ at its root; a built package carries
them inside itself as symsteer/proofs, so an installed symsteer has its built-in claims and
claims no top-level name but ``symsteer``. Everything else is in pyproject.toml."""

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py


class BuildWithProofs(build_py):
    def run(self) -> None:
        super().run()
        if getattr(self, "editable_mode", False):
            return  # an editable install reads proofs/ from the checkout itself
        target = Path(self.build_lib, "symsteer", "proofs")
        target.mkdir(parents=True, exist_ok=True)
        for claim in sorted(Path(__file__).parent.joinpath("proofs").glob("*.toml")):
            shutil.copyfile(claim, target / claim.name)


setup(cmdclass={"build_py": BuildWithProofs})
