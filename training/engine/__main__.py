"""Command line: `python -m training.engine reward|dpo|... --data FILE --base MODEL --out DIR`."""

from training.engine.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
