import sys

from taxonomy.realdev import main

sys.exit(main())
