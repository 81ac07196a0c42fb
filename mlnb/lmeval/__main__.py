import sys
from pathlib import Path

from mlnb.lmeval.run import main

sys.exit(main(Path(sys.argv[1])))
