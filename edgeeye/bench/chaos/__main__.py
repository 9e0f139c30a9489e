import sys

from edgeeye.bench.chaos.run import main

sys.exit(main())
