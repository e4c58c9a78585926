import sys

from rastro_dispatch.cli import main

sys.exit(main())
