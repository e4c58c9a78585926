import sys

from rastro_fraud.cli import main

sys.exit(main())
