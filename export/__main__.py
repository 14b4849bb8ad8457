"""`python -m facegan.export` runs the facegan-export CLI."""

from .cli import main

if __name__ == "__main__":
    main()
