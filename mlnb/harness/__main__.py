import sys
import threading
from pathlib import Path

from mlnb.errors import InputError
from mlnb.harness.faults import record_fault
from mlnb.harness.run import main

if __name__ == "__main__":
    try:
        sys.exit(main())
    except InputError as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(2)
    except Exception as err:  # written down for the stage's failure.json, then the usual traceback exit
        if len(sys.argv) == 2:
            record_fault(Path(sys.argv[1]), err, threading.current_thread().name)
            sys.exit(1)
        raise
