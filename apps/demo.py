"""Start the img2img web demo: ``python apps/demo.py [--model DIR ...] [--port N]``.

The same as ``img2img demo`` (the app lives in :mod:`img2img.demo`, so an installed package
has it too); ``python apps/demo.py --help`` lists the options.
"""

import sys

from img2img.cli import main

if __name__ == "__main__":
    main(["demo", *sys.argv[1:]])
