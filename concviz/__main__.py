import sys

from concviz.cli import main

if __name__ == "__main__":
    sys.exit(main())
