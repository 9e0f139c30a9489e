import sys

from edgeeye.cli import main

sys.exit(main())
