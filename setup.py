"""Build hook: the wheel carries the repository's notebooks/*.ipynb and parameters/*.yaml as mlnb/_shipped/.

Everything else about the package is in pyproject.toml. The repository's folders stay the sources; they are
copied into the built package here, so an installed mlnb finds them with importlib.resources
(mlnb/workspace.py) and `mlnb init` copies them into a user's workspace.
"""

from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent
SHIPPED = {"notebooks": "*.ipynb", "parameters": "*.yaml"}


class BuildPyWithShipped(build_py):
    def run(self):
        super().run()
        for folder, pattern in SHIPPED.items():
            sources = sorted((ROOT / folder).glob(pattern))
            if not sources:
                raise SystemExit(f"setup.py: no {folder}/{pattern} to ship; build from the repository root or its sdist")
            target = Path(self.build_lib) / "mlnb" / "_shipped" / folder
            self.mkpath(str(target))
            for source in sources:
                self.copy_file(str(source), str(target / source.name))


setup(cmdclass={"build_py": BuildPyWithShipped})
