"""`python -m parity ...`: see parity.commands."""
import sys

from parity.commands import main

if __name__ == "__main__":
    sys.exit(main())
