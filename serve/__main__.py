"""`python -m facegan.serve` runs the facegan-serve CLI."""

from .cli import main

if __name__ == "__main__":
    main()
