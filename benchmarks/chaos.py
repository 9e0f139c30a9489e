"""The chaos run (see edgeeye/bench/chaos): ``python benchmarks/chaos.py --seconds 3600``."""

import sys

from edgeeye.bench.chaos.run import main

if __name__ == "__main__":
    sys.exit(main())
