import sys

from mlnb.errors import InputError
from mlnb.harness.run import main

if __name__ == "__main__":
    try:
        sys.exit(main())
    except InputError as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(2)
