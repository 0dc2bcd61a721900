"""``python -m ragloom``: the same command line as the ``ragloom`` script."""

from ragloom.cli import main

if __name__ == "__main__":
    main()
